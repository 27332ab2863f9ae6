/**
 * ModifierFactory (llm-compressor `modifiers/factory.py`): modifier classes by
 * the name recipes use. The built-in modifiers are registered here; users add
 * theirs with `register()` and can then use them from YAML.
 */
import { FieldPath } from '../recipe/schema.js';
import { didYouMean } from '../recipe/suggest.js';
import { AWQModifier } from './awq/base.js';
import { GPTQModifier } from './gptq/base.js';
import { Modifier, setModifierTypeName, type ModifierClass, type ModifierContext } from './modifier.js';
import { ConstantPruningModifier } from './pruning/constant.js';
import { MagnitudePruningModifier } from './pruning/magnitude.js';
import { SparseGPTModifier } from './pruning/sparsegpt.js';
import { WandaPruningModifier } from './pruning/wanda.js';
import { QuantizationModifier } from './quantization/base.js';
import { SmoothQuantModifier } from './smoothquant/base.js';

const BUILTIN: ReadonlyArray<[string, ModifierClass]> = [
  ['QuantizationModifier', QuantizationModifier],
  ['GPTQModifier', GPTQModifier],
  ['AWQModifier', AWQModifier],
  ['SmoothQuantModifier', SmoothQuantModifier],
  ['SparseGPTModifier', SparseGPTModifier],
  ['WandaPruningModifier', WandaPruningModifier],
  ['MagnitudePruningModifier', MagnitudePruningModifier],
  ['ConstantPruningModifier', ConstantPruningModifier],
];

const registry = new Map<string, ModifierClass>();
const builtinNames = new Set<string>();
for (const [name, cls] of BUILTIN) {
  registry.set(name, cls);
  builtinNames.add(name);
  setModifierTypeName(cls, name);
}

function isModifierClass(cls: unknown): cls is ModifierClass {
  return typeof cls === 'function' && (cls === Modifier || (cls as { prototype?: unknown }).prototype instanceof Modifier);
}

/** The registry of modifier classes by recipe name. */
export const ModifierFactory = {
  /**
   * Registers `cls` under `name` so recipes can write `name: {fields}`.
   * A registered name shadows a built-in one, as in llm-compressor.
   */
  register(name: string, cls: ModifierClass): void {
    if (!name || typeof name !== 'string') throw new Error('ModifierFactory.register: a name is required');
    if (!isModifierClass(cls)) throw new Error(`ModifierFactory.register(${JSON.stringify(name)}): the class does not extend Modifier`);
    registry.set(name, cls);
    setModifierTypeName(cls, name);
  },

  /** Removes a user registration; a shadowed built-in comes back. */
  unregister(name: string): void {
    registry.delete(name);
    const builtin = BUILTIN.find(([n]) => n === name);
    if (builtin) registry.set(name, builtin[1]);
  },

  has(name: string): boolean {
    return registry.has(name);
  },

  get(name: string): ModifierClass | undefined {
    return registry.get(name);
  },

  /** Registered names, built-ins first. */
  names(): string[] {
    return [...registry.keys()];
  },

  isBuiltin(name: string): boolean {
    return builtinNames.has(name) && registry.get(name) === BUILTIN.find(([n]) => n === name)?.[1];
  },

  /**
   * Instantiates modifier `name` from recipe fields (`keys: 'yaml'`,
   * snake_case) or TypeScript options. An unknown name is a RecipeError at
   * `context.path`.
   */
  create(name: string, fields: unknown, context: ModifierContext = {}): Modifier {
    const cls = registry.get(name);
    const path = context.path ?? FieldPath.root(name);
    if (!cls) return path.fail(`No modifier of type '${name}' found${didYouMean(name, registry.keys())}. Known modifiers: ${[...registry.keys()].join(', ')}`);
    return new cls(fields as never, { ...context, path });
  },
};
