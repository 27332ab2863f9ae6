/** The field schema language and the modifier factory. */
import { describe, expect, it } from 'vitest';
import { FieldPath, camelCase, field, fieldsToPlain, parseFields, snakeCase, t, type ParseContext } from '../../src/recipe/schema.js';
import { RecipeError } from '../../src/recipe/errors.js';
import { closestMatch, editDistance } from '../../src/recipe/suggest.js';
import { ModifierFactory } from '../../src/modifiers/factory.js';
import { MODIFIER_FIELDS, Modifier } from '../../src/modifiers/modifier.js';
import { GPTQModifier } from '../../src/modifiers/gptq/base.js';
import { Recipe } from '../../src/recipe/recipe.js';

const ctx = (keys: 'yaml' | 'ts' = 'yaml'): ParseContext => ({ path: FieldPath.root('M'), keys, warnings: [] });

const FIELDS = [
  field('block_size', t.int({ min: 1 }), { default: 128, doc: '' }),
  field('frac', t.nullable(t.float({ min: 0, max: 1, exclusiveMax: true })), { default: null, doc: '' }),
  field('on', t.bool(), { default: false, doc: '' }),
  field('names', t.list(t.string(), { wrapSingle: true }), { default: ['a'], doc: '' }),
  field('later', t.nullable(t.enum(['x', 'y'] as const)), { defaultLabel: 'decided later', doc: '' }),
  field('need', t.string(), { required: true, doc: '' }),
] as const;

describe('schema', () => {
  it('snake/camel names', () => {
    expect(camelCase('kv_cache_scheme')).toBe('kvCacheScheme');
    expect(snakeCase('kvCacheScheme')).toBe('kv_cache_scheme');
    expect(FIELDS[0].key).toBe('blockSize');
  });

  it('lax numbers and booleans like pydantic; defaults copied per parse', () => {
    const a = parseFields(FIELDS, { block_size: '64', frac: '0.5', on: 'yes', names: 'b', need: 'n' }, ctx());
    expect(a).toEqual({ blockSize: 64, frac: 0.5, on: true, names: ['b'], later: undefined, need: 'n' });
    const b = parseFields(FIELDS, { need: 'n' }, ctx());
    const c = parseFields(FIELDS, { need: 'n' }, ctx());
    b.names.push('mutated');
    expect(c.names).toEqual(['a']);
  });

  it('errors name the field in the input spelling', () => {
    const err = (raw: unknown, keys: 'yaml' | 'ts' = 'yaml') => {
      try {
        parseFields(FIELDS, raw, ctx(keys));
      } catch (e) {
        return (e as RecipeError).message;
      }
      return 'no error';
    };
    expect(err({ need: 'n', block_size: 1.5 })).toBe('M.block_size: expected an integer, got number 1.5');
    expect(err({ need: 'n', frac: 1 })).toBe('M.frac: must be a number in [0, 1), got 1');
    expect(err({ need: 'n', frac: '.inf' })).toBe('M.frac: expected a number, got string ".inf"');
    expect(err({ need: 'n', on: 'maybe' })).toBe('M.on: expected a boolean, got string "maybe"');
    expect(err({ need: 'n', later: 'z' })).toBe('M.later: expected one of x, y, got string "z"');
    expect(err({})).toBe('M.need: field required');
    expect(err({ need: 'n', blockSize: 2 })).toBe('M.blockSize: unknown field (did you mean block_size?)');
    expect(err({ need: 'n', block_size: 2 }, 'ts')).toBe('M.block_size: unknown field (did you mean blockSize?)');
    expect(err([1])).toBe('M: expected a mapping of fields, got a list');
  });

  it('writing back drops absent values and null defaults, keeps meaningful nulls', () => {
    const v = parseFields(FIELDS, { need: 'n', later: null }, ctx());
    expect(fieldsToPlain(FIELDS, v)).toEqual({ block_size: 128, on: false, names: ['a'], later: null, need: 'n' });
  });

  it('suggestions', () => {
    expect(editDistance('W4A61', 'W4A16')).toBe(1);
    expect(closestMatch('blocksize', ['block_size', 'dampening_frac'])).toBe('block_size');
    expect(closestMatch('zzz', ['block_size'])).toBeUndefined();
  });
});

describe('ModifierFactory', () => {
  class Custom extends Modifier {
    static override readonly fields = [field('alpha', t.float(), { default: 1, doc: '' }), ...MODIFIER_FIELDS];
    override onInitialize(): boolean {
      return true;
    }
  }

  it('lists the built-ins and rejects non-modifiers', () => {
    expect(ModifierFactory.names()).toEqual([
      'QuantizationModifier', 'GPTQModifier', 'AWQModifier', 'SmoothQuantModifier',
      'SparseGPTModifier', 'WandaPruningModifier', 'MagnitudePruningModifier', 'ConstantPruningModifier',
    ]);
    expect(() => ModifierFactory.register('X', class {} as never)).toThrow('ModifierFactory.register("X"): the class does not extend Modifier');
  });

  it('register, shadow a built-in, unregister restores it', () => {
    ModifierFactory.register('GPTQModifier', Custom);
    try {
      const r = Recipe.fromText('GPTQModifier: {alpha: 2}');
      expect(r.modifiers[0]).toBeInstanceOf(Custom);
      expect(r.yaml()).toContain('    GPTQModifier:\n      alpha: 2');
      expect(ModifierFactory.isBuiltin('GPTQModifier')).toBe(false);
    } finally {
      ModifierFactory.unregister('GPTQModifier');
    }
    expect(ModifierFactory.get('GPTQModifier')).toBe(GPTQModifier);
    expect(ModifierFactory.isBuiltin('GPTQModifier')).toBe(true);
    expect(() => ModifierFactory.create('Nope', {})).toThrow("Nope: No modifier of type 'Nope' found.");
  });
});

describe('modifier field names', () => {
  it('a field that would shadow a Modifier member is refused', () => {
    class Bad extends Modifier {
      static override readonly fields = [field('initialize', t.bool(), { default: false, doc: '' }), ...MODIFIER_FIELDS];
      override onInitialize(): boolean {
        return true;
      }
    }
    expect(() => new Bad()).toThrow('Bad: field initialize collides with Modifier.initialize; rename the field');
  });
});
