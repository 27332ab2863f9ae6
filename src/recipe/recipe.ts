/**
 * Recipes (llm-compressor `recipe/recipe.py`, reference §3): which modifiers
 * run, in which order, with which fields. The YAML grammar is llm-compressor's:
 *
 * ```yaml
 * <name>_stage:            # any top-level key ending in _stage
 *   <group>_modifiers:     # any key ending in _modifiers; <group> becomes Modifier.group
 *     ModifierClass:       # looked up in ModifierFactory
 *       field: value       # snake_case fields of that modifier
 * ```
 *
 * plus `args:` (stored, inert, as in llm-compressor) and, unlike
 * llm-compressor, a flat `ModifierClass: {fields}` map at the top level
 * (stage and group `default`). Stages are kept (llm-compressor flattens them),
 * so a written recipe has the stages it was read with. Validation is strict:
 * unknown keys are errors, where llm-compressor skips them.
 */
import { LineCounter, isMap, isPair, isScalar, isSeq, parseDocument, type Node as YamlNode } from 'yaml';
import { AWQModifier } from '../modifiers/awq/base.js';
import { ModifierFactory } from '../modifiers/factory.js';
import { Modifier } from '../modifiers/modifier.js';
import { QuantizationMixin } from '../modifiers/quantization/mixin.js';
import { RecipeError, type SourceLocation } from './errors.js';
import { FieldPath, describeValue, isPlainObject, type Locator } from './schema.js';
import { closestMatch } from './suggest.js';
import { toYamlText } from './yamlText.js';

/** One stage of a recipe: its modifiers in order. */
export interface RecipeStage {
  /** Stage name without the `_stage` suffix. */
  readonly name: string;
  readonly modifiers: readonly Modifier[];
}

/** Everything `Recipe.create` accepts (file paths: see `loadRecipe`). */
export type RecipeInput = Recipe | Modifier | readonly (Modifier | readonly Modifier[])[] | string | Readonly<Record<string, unknown>>;

export interface RecipeOptions {
  /** Keep only top-level stage keys starting with this name (llm-compressor's `recipe_stage`). */
  stage?: string;
  /** File the text came from, for error locations. */
  source?: string;
  /** Stored on `Recipe.args` (llm-compressor's `recipe_args`; nothing reads them). */
  args?: Readonly<Record<string, unknown>>;
}

const STAGE_KEY = /^(.*)_stage(?:_\d+)?$/;
const GROUP_KEY = /^(.*)_modifiers$/;
const DEFAULT_STAGE = 'default';

/** Python's repr of a list of names, for llm-compressor's message. */
function pyList(names: readonly string[]): string {
  return `[${names.map((n) => `'${n}'`).join(', ')}]`;
}

export class Recipe {
  readonly args: Readonly<Record<string, unknown>>;
  readonly stages: readonly RecipeStage[];

  private constructor(stages: readonly RecipeStage[], args: Readonly<Record<string, unknown>>) {
    this.stages = stages;
    this.args = args;
    Recipe.validateOrder(this.modifiers);
  }

  /** Every modifier of every stage, in order: what one lifecycle runs. */
  get modifiers(): Modifier[] {
    return this.stages.flatMap((s) => s.modifiers);
  }

  /** Name of the last stage (llm-compressor's `Recipe.stage`). */
  get stage(): string {
    return this.stages.length ? this.stages[this.stages.length - 1].name : DEFAULT_STAGE;
  }

  /**
   * A recipe from a Recipe (returned as is), a Modifier or (nested) list of
   * them, a YAML or JSON string, or a parsed object.
   */
  static create(input: RecipeInput, options: RecipeOptions = {}): Recipe {
    if (input instanceof Recipe) return input;
    if (input instanceof Modifier || Array.isArray(input)) return Recipe.fromModifiers(input as Modifier | readonly (Modifier | readonly Modifier[])[], DEFAULT_STAGE, options.args);
    if (typeof input === 'string') return Recipe.fromText(input, options);
    if (isPlainObject(input)) return Recipe.fromObject(input, options);
    throw new RecipeError('', `cannot make a recipe from ${describeValue(input)}`);
  }

  /** All modifiers in one stage (llm-compressor `from_modifiers`). */
  static fromModifiers(modifiers: Modifier | readonly (Modifier | readonly Modifier[])[], stage = DEFAULT_STAGE, args: Readonly<Record<string, unknown>> = {}): Recipe {
    const flat = ([modifiers] as unknown[]).flat(Infinity);
    flat.forEach((m, i) => {
      if (!(m instanceof Modifier)) throw new RecipeError(`[${i}]`, `modifiers must be Modifier instances, got ${describeValue(m)}`);
    });
    return new Recipe([{ name: stage, modifiers: flat as Modifier[] }], { ...args });
  }

  /** Parses YAML (or JSON, a subset) text; syntax errors carry line and column. */
  static fromText(text: string, options: RecipeOptions = {}): Recipe {
    const lineCounter = new LineCounter();
    const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
    const err = doc.errors[0];
    if (err) {
      const pos = err.linePos?.[0] ?? lineCounter.linePos(err.pos[0]);
      const detail = err.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
      throw new RecipeError('', `invalid YAML at line ${pos.line}, column ${pos.col}: ${detail}`, { source: options.source, line: pos.line, col: pos.col });
    }
    const obj: unknown = doc.toJS({ maxAliasCount: 1000 });
    if (!isPlainObject(obj)) {
      const loc = { source: options.source, line: 1, col: 1 };
      throw new RecipeError('', `a recipe must be a mapping of <name>_stage keys (or of modifier names), got ${describeValue(obj ?? null)}`, loc);
    }
    return Recipe.fromObject(obj, options, buildLocator(doc.contents, lineCounter, options.source));
  }

  /** Builds a recipe from parsed data (the YAML grammar above). */
  static fromObject(obj: Readonly<Record<string, unknown>>, options: RecipeOptions = {}, locator?: Locator): Recipe {
    const root = FieldPath.fromParts([], locator);
    const stages: RecipeStage[] = [];
    let args: Record<string, unknown> = { ...(options.args ?? {}) };
    let flat: Modifier[] | undefined;
    const keys = Object.keys(obj);
    for (const key of keys) {
      const val = obj[key];
      const path = root.child(key);
      if (key === 'args') {
        if (val !== null && !isPlainObject(val)) path.fail(`expected a mapping of recipe arguments, got ${describeValue(val)}`);
        args = { ...(val ?? {}), ...args };
        continue;
      }
      const stageMatch = STAGE_KEY.exec(key);
      if (stageMatch) {
        if (options.stage && !key.startsWith(options.stage)) continue;
        stages.push({ name: stageMatch[1], modifiers: parseStage(val, path) });
        continue;
      }
      if (ModifierFactory.has(key)) {
        if (options.stage && options.stage !== DEFAULT_STAGE) continue;
        if (!flat) {
          flat = [];
          stages.push({ name: DEFAULT_STAGE, modifiers: flat });
        }
        flat.push(createModifier(key, val, DEFAULT_STAGE, path));
        continue;
      }
      const near = closestMatch(key, ModifierFactory.names());
      path.fail(
        near
          ? `No modifier of type '${key}' found (did you mean ${near}?)`
          : `unknown top-level key (expected '<name>_stage', 'args', or a modifier name such as QuantizationModifier)`,
      );
    }
    return new Recipe(stages, args);
  }

  /**
   * llm-compressor's recipe validator: an AWQModifier only computes scales,
   * so a quantizing modifier must come after it.
   */
  private static validateOrder(modifiers: readonly Modifier[]): void {
    modifiers.forEach((m, i) => {
      if (m instanceof AWQModifier && !modifiers.slice(i + 1).some((n) => n instanceof QuantizationMixin)) {
        m.recipePath.fail(
          `Recipe includes AWQModifier with no subsequent quantization modifier: ${pyList(modifiers.map((x) => x.type))}. AWQ must be run with a subsequent quantization modifier`,
        );
      }
    });
  }

  /** The recipe as YAML data: `<stage>_stage: {<group>_modifiers: {Class: fields}}`. */
  toObject(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    if (Object.keys(this.args).length) out.args = structuredClone(this.args);
    for (const stage of this.stages) {
      let key = `${stage.name}_stage`;
      for (let n = 1; key in out; n++) key = `${stage.name}_stage_${n}`;
      const groups: Record<string, Record<string, unknown>> = {};
      let lastKey: string | undefined;
      for (const m of stage.modifiers) {
        const group = m.group ?? stage.name;
        let gk = `${group}_modifiers`;
        // A group that already holds this class, or that a later group has
        // interrupted, gets a fresh key: YAML maps cannot repeat a key, and
        // modifier order must survive the round trip.
        for (let n = 1; gk in groups && (gk !== lastKey || m.type in groups[gk]); n++) gk = `${group}_${n}_modifiers`;
        groups[gk] ??= {};
        groups[gk][m.type] = m.toRecipeFields();
        lastKey = gk;
      }
      out[key] = groups;
    }
    return out;
  }

  /**
   * YAML text of the recipe (`recipe.yaml`). Strings that YAML 1.1 readers
   * (PyYAML, hence llm-compressor) would take for numbers or booleans, such
   * as `"2:4"`, are quoted; short lists are written inline.
   */
  yaml(): string {
    return toYamlText(this.toObject());
  }
}

function createModifier(type: string, fields: unknown, group: string, path: FieldPath): Modifier {
  let raw = fields;
  if (raw === null || raw === undefined) raw = {};
  if (!isPlainObject(raw)) path.fail(`expected a mapping of fields, got ${describeValue(raw)}`);
  // The group key supplies `group` unless the fields set it (llm-compressor: mod_args.get("group", inferred)).
  const withGroup = 'group' in raw ? raw : { ...raw, group };
  return ModifierFactory.create(type, withGroup, { path, keys: 'yaml' });
}

function parseStage(val: unknown, path: FieldPath): Modifier[] {
  if (val === null || val === undefined) return [];
  if (!isPlainObject(val)) path.fail(`expected a mapping of <group>_modifiers keys, got ${describeValue(val)}`);
  const mods: Modifier[] = [];
  for (const [gk, gv] of Object.entries(val)) {
    const gpath = path.child(gk);
    const gm = GROUP_KEY.exec(gk);
    if (!gm) {
      throw gpath.error(
        ModifierFactory.has(gk)
          ? `a modifier must sit inside a '<group>_modifiers' key (e.g. ${path.parts[path.parts.length - 1].toString().replace(STAGE_KEY, '$1')}_modifiers: {${gk}: ...})`
          : `unknown key in a stage (expected '<group>_modifiers')`,
      );
    }
    if (gv === null || gv === undefined) continue;
    if (!isPlainObject(gv)) gpath.fail(`expected a mapping of modifier names to fields, got ${describeValue(gv)}`);
    for (const [type, fields] of Object.entries(gv)) mods.push(createModifier(type, fields, gm[1], gpath.child(type)));
  }
  return mods;
}

/** Maps recipe paths to the line and column of their key (or list item) in the source. */
function buildLocator(contents: unknown, lc: LineCounter, source: string | undefined): Locator {
  const positions = new Map<string, number>();
  const walk = (node: unknown, parts: (string | number)[]) => {
    if (isMap(node)) {
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        const child = [...parts, key];
        const range = (pair.key as YamlNode | null)?.range;
        if (range) positions.set(JSON.stringify(child), range[0]);
        walk(pair.value, child);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        const child = [...parts, i];
        const range = (item as YamlNode | null)?.range;
        if (range) positions.set(JSON.stringify(child), range[0]);
        walk(item, child);
      });
    }
  };
  walk(contents, []);
  return (parts): SourceLocation | undefined => {
    for (let n = parts.length; n > 0; n--) {
      const off = positions.get(JSON.stringify(parts.slice(0, n)));
      if (off !== undefined) {
        const p = lc.linePos(off);
        return { source, line: p.line, col: p.col };
      }
    }
    return undefined;
  };
}
