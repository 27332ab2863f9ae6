/**
 * A small, strict schema language for recipe fields: the TypeScript stand-in
 * for llm-compressor's pydantic models (`extra="forbid"`, lax coercion of
 * numeric strings). A field is declared once, with its YAML (snake_case) name;
 * its TypeScript (camelCase) name and type follow from the declaration.
 */
import { RecipeError, type SourceLocation } from './errors.js';
import { didYouMean } from './suggest.js';

/** `block_size` → `blockSize`, at the type level. */
export type CamelCase<S extends string> = S extends `${infer H}_${infer T}` ? `${H}${Capitalize<CamelCase<T>>}` : S;

/** `block_size` → `blockSize`. */
export function camelCase<S extends string>(s: S): CamelCase<S> {
  return s.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()) as CamelCase<S>;
}

/** `blockSize` → `block_size`. */
export function snakeCase(s: string): string {
  return s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** Which spelling of field names an input uses: recipe YAML (`block_size`) or TypeScript options (`blockSize`). */
export type KeyStyle = 'yaml' | 'ts';

/** Finds where a path was written in the source text (nearest existing ancestor when the path itself is absent). */
export type Locator = (parts: readonly (string | number)[]) => SourceLocation | undefined;

/** The path of a value inside a recipe, used to name it in errors. */
export class FieldPath {
  private constructor(
    readonly parts: readonly (string | number)[],
    private readonly locator: Locator | undefined,
  ) {}

  static root(first?: string, locator?: Locator): FieldPath {
    return new FieldPath(first === undefined || first === '' ? [] : [first], locator);
  }

  static fromParts(parts: readonly (string | number)[], locator?: Locator): FieldPath {
    return new FieldPath([...parts], locator);
  }

  child(part: string | number): FieldPath {
    return new FieldPath([...this.parts, part], this.locator);
  }

  /** `quant_stage.quant_modifiers.SmoothQuantModifier.mappings[0][1]` */
  toString(): string {
    let s = '';
    for (const p of this.parts) s += typeof p === 'number' ? `[${p}]` : s ? `.${p}` : p;
    return s;
  }

  get location(): SourceLocation | undefined {
    return this.locator?.(this.parts);
  }

  error(detail: string): RecipeError {
    return new RecipeError(this.toString(), detail, this.location);
  }

  fail(detail: string): never {
    throw this.error(detail);
  }
}

/** Passed down while parsing: where we are, which key spelling the input uses, and where warnings go. */
export interface ParseContext {
  readonly path: FieldPath;
  readonly keys: KeyStyle;
  /** Deprecations and silent adjustments (llm-compressor logs these as warnings). */
  readonly warnings: string[];
}

export function childContext(ctx: ParseContext, part: string | number): ParseContext {
  return { path: ctx.path.child(part), keys: ctx.keys, warnings: ctx.warnings };
}

/** A value's kind for error messages: `string "abc"`, `number 1.5`, `a list`. */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  switch (typeof v) {
    case 'string':
      return `string ${JSON.stringify(v)}`;
    case 'number':
      return `number ${v}`;
    case 'boolean':
      return `boolean ${v}`;
    case 'object':
      return 'a mapping';
    default:
      return typeof v;
  }
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * A field's type: how to validate and normalise an input value, and how to
 * write the normalised value back as YAML data.
 * `Out` is the normalised TypeScript value; `In` what callers may pass.
 */
export interface FieldType<Out, In = Out> {
  /** Human description used in errors and `wgc recipe check`: `integer ≥ 1`. */
  readonly label: string;
  /** Validates and normalises `value` (never `undefined`); throws a {@link RecipeError} naming `ctx.path`. */
  parse(value: unknown, ctx: ParseContext): Out;
  /** The recipe (YAML-side) form of a normalised value: nested field names in snake_case. */
  toPlain(value: Out): unknown;
  /** Phantom: the accepted input type. */
  readonly _in?: In;
}

/** One field of a modifier or nested recipe object. */
export interface FieldSpec<Y extends string = string, Out = unknown, In = Out> {
  /** Name as written in recipes (snake_case, llm-compressor's). */
  readonly name: Y;
  /** Name in TypeScript (camelCase). */
  readonly key: CamelCase<Y>;
  readonly type: FieldType<Out, In>;
  readonly required: boolean;
  /** Whether `default` is meaningful (a field may default to `null`). */
  readonly hasDefault: boolean;
  readonly default?: Out;
  /** Shown instead of an absent value when the default is decided later (llm-compressor's Sentinel defaults). */
  readonly defaultLabel?: string;
  /** Accepted for compatibility but without effect; not written back. */
  readonly deprecated?: boolean;
  readonly doc: string;
}

interface FieldOptionsBase {
  doc: string;
  deprecated?: boolean;
}

/** Declares a field with a default value (copied for every instance). */
export function field<Y extends string, Out, In>(name: Y, type: FieldType<Out, In>, opts: FieldOptionsBase & { default: Out }): FieldSpec<Y, Out, In>;
/** Declares a required field. */
export function field<Y extends string, Out, In>(name: Y, type: FieldType<Out, In>, opts: FieldOptionsBase & { required: true }): FieldSpec<Y, Out, In>;
/** Declares an optional field whose absence means "decide later" (`undefined`). */
export function field<Y extends string, Out, In>(name: Y, type: FieldType<Out, In>, opts: FieldOptionsBase & { defaultLabel?: string }): FieldSpec<Y, Out | undefined, In>;
export function field<Y extends string, Out, In>(
  name: Y,
  type: FieldType<Out, In>,
  opts: FieldOptionsBase & { default?: Out; required?: boolean; defaultLabel?: string },
): FieldSpec<Y, Out | undefined, In> {
  return {
    name,
    key: camelCase(name),
    type: type as FieldType<Out | undefined, In>,
    required: opts.required === true,
    hasDefault: 'default' in opts,
    default: opts.default,
    defaultLabel: opts.defaultLabel,
    deprecated: opts.deprecated,
    doc: opts.doc,
  };
}

type OutOf<S> = S extends FieldSpec<string, infer O, unknown> ? O : never;
type InOf<S> = S extends FieldSpec<string, unknown, infer I> ? I : never;

/** The normalised values of a field list, keyed by camelCase name. */
export type FieldsOut<F extends readonly FieldSpec[]> = { [S in F[number] as S['key']]: OutOf<S> };
/** What a TypeScript caller may pass for a field list: every field optional, camelCase keys. */
export type FieldsIn<F extends readonly FieldSpec[]> = { [S in F[number] as S['key']]?: InOf<S> | (S['required'] extends true ? never : null) };

function cloneDefault<T>(v: T): T {
  return v === null || typeof v !== 'object' ? v : structuredClone(v);
}

/**
 * Validates `raw` (a mapping, or null for "no fields") against `fields`:
 * unknown keys, missing required fields and bad values are errors naming
 * their path; absent fields get their defaults. Returns camelCase keys.
 */
export function parseFields<F extends readonly FieldSpec[]>(fields: F, raw: unknown, ctx: ParseContext): FieldsOut<F> {
  if (raw === null || raw === undefined) raw = {};
  if (!isPlainObject(raw)) ctx.path.fail(`expected a mapping of fields, got ${describeValue(raw)}`);
  const byInputKey = new Map<string, FieldSpec>();
  for (const f of fields) byInputKey.set(ctx.keys === 'yaml' ? f.name : f.key, f);
  const out: Record<string, unknown> = {};
  const seen = new Set<FieldSpec>();
  for (const [k, v] of Object.entries(raw)) {
    const spec = byInputKey.get(k);
    if (!spec) throw ctx.path.child(k).error(`unknown field${didYouMean(k, byInputKey.keys())}`);
    if (v === undefined) continue;
    seen.add(spec);
    out[spec.key] = spec.type.parse(v, childContext(ctx, k));
  }
  for (const f of fields) {
    if (seen.has(f)) continue;
    if (f.required) ctx.path.child(ctx.keys === 'yaml' ? f.name : f.key).fail('field required');
    out[f.key] = f.hasDefault ? cloneDefault(f.default) : undefined;
  }
  return out as FieldsOut<F>;
}

/**
 * The recipe form of parsed values: snake_case names, fields in declaration
 * order, absent and deprecated values dropped, and `null` dropped where it is the
 * default (a `null` that overrides a later-decided default is kept, so a
 * written recipe reads back to the same values).
 */
export function fieldsToPlain(fields: readonly FieldSpec[], values: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    const v = values[f.key];
    if (v === undefined || f.deprecated) continue;
    if (v === null && f.hasDefault && f.default === null) continue;
    out[f.name] = v === null ? null : f.type.toPlain(v);
  }
  return out;
}

const identity = <T>(v: T): T => v;

function fmt(n: number): string {
  return String(n);
}

interface RangeOptions {
  min?: number;
  max?: number;
  /** Bounds excluded (open interval) rather than included. */
  exclusiveMin?: boolean;
  exclusiveMax?: boolean;
}

function rangeLabel(base: string, r: RangeOptions): string {
  const lo = r.min === undefined ? '' : `${r.exclusiveMin ? '>' : '≥'} ${fmt(r.min)}`;
  const hi = r.max === undefined ? '' : `${r.exclusiveMax ? '<' : '≤'} ${fmt(r.max)}`;
  if (lo && hi) return `${base} in ${r.exclusiveMin ? '(' : '['}${fmt(r.min!)}, ${fmt(r.max!)}${r.exclusiveMax ? ')' : ']'}`;
  return lo || hi ? `${base} ${lo || hi}` : base;
}

function checkRange(n: number, r: RangeOptions, label: string, ctx: ParseContext): number {
  const below = r.min !== undefined && (r.exclusiveMin ? n <= r.min : n < r.min);
  const above = r.max !== undefined && (r.exclusiveMax ? n >= r.max : n > r.max);
  if (below || above) ctx.path.fail(`must be ${/^[aeiou]/.test(label) ? 'an' : 'a'} ${label}, got ${fmt(n)}`);
  return n;
}

const INT_STRING = /^[+-]?\d+$/;
const FLOAT_STRING = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** Field types. Numeric strings are accepted for numbers, as pydantic's lax mode does. */
export const t = {
  int(r: RangeOptions = {}): FieldType<number> {
    const label = rangeLabel('integer', r);
    return {
      label,
      parse(v, ctx) {
        let n: number;
        if (typeof v === 'number') n = v;
        else if (typeof v === 'string' && INT_STRING.test(v.trim())) n = Number(v.trim());
        else return ctx.path.fail(`expected an integer, got ${describeValue(v)}`);
        if (!Number.isInteger(n)) ctx.path.fail(`expected an integer, got ${describeValue(v)}`);
        return checkRange(n, r, label, ctx);
      },
      toPlain: identity,
    };
  },

  float(r: RangeOptions = {}): FieldType<number> {
    const label = rangeLabel('number', r);
    return {
      label,
      parse(v, ctx) {
        let n: number;
        if (typeof v === 'number') n = v;
        else if (typeof v === 'string' && FLOAT_STRING.test(v.trim())) n = Number(v.trim());
        else return ctx.path.fail(`expected a number, got ${describeValue(v)}`);
        if (!Number.isFinite(n)) ctx.path.fail(`expected a finite number, got ${fmt(n)}`);
        return checkRange(n, r, label, ctx);
      },
      toPlain: identity,
    };
  },

  bool(): FieldType<boolean> {
    const truthy = new Set(['1', 'on', 't', 'true', 'y', 'yes']);
    const falsy = new Set(['0', 'off', 'f', 'false', 'n', 'no']);
    return {
      label: 'boolean',
      parse(v, ctx) {
        if (typeof v === 'boolean') return v;
        if (v === 0 || v === 1) return v === 1;
        if (typeof v === 'string') {
          const s = v.trim().toLowerCase();
          if (truthy.has(s)) return true;
          if (falsy.has(s)) return false;
        }
        return ctx.path.fail(`expected a boolean, got ${describeValue(v)}`);
      },
      toPlain: identity,
    };
  },

  string(opts: { check?: (s: string) => string | undefined; label?: string } = {}): FieldType<string> {
    return {
      label: opts.label ?? 'string',
      parse(v, ctx) {
        if (typeof v !== 'string') return ctx.path.fail(`expected a string, got ${describeValue(v)}`);
        const problem = opts.check?.(v);
        if (problem) ctx.path.fail(problem);
        return v;
      },
      toPlain: identity,
    };
  },

  /** One of fixed strings; matched case-insensitively when asked (llm-compressor lower-cases enum inputs). */
  enum<const V extends string>(values: readonly V[], opts: { caseInsensitive?: boolean } = {}): FieldType<V> {
    const label = `one of ${values.join(', ')}`;
    return {
      label,
      parse(v, ctx) {
        if (typeof v === 'string') {
          const s = opts.caseInsensitive ? v.toLowerCase() : v;
          if ((values as readonly string[]).includes(s)) return s as V;
          return ctx.path.fail(`expected ${label}, got ${describeValue(v)}${didYouMean(v, values)}`);
        }
        return ctx.path.fail(`expected ${label}, got ${describeValue(v)}`);
      },
      toPlain: identity,
    };
  },

  /** A list; with `wrapSingle`, a lone value is taken as a one-element list (pydantic validators that do `[value]`). */
  list<O, I>(item: FieldType<O, I>, opts: { wrapSingle?: boolean; minLength?: number; maxLength?: number } = {}): FieldType<O[], I[] | I> {
    const label = `list of ${item.label}${opts.wrapSingle ? ` (or a single ${item.label})` : ''}`;
    return {
      label,
      parse(v, ctx) {
        let arr: unknown[];
        if (Array.isArray(v)) arr = v;
        else if (opts.wrapSingle) return [item.parse(v, ctx)];
        else return ctx.path.fail(`expected a ${label}, got ${describeValue(v)}`);
        if (opts.minLength !== undefined && arr.length < opts.minLength) ctx.path.fail(`expected at least ${opts.minLength} item(s), got ${arr.length}`);
        if (opts.maxLength !== undefined && arr.length > opts.maxLength) ctx.path.fail(`expected at most ${opts.maxLength} item(s), got ${arr.length}`);
        return arr.map((x, i) => item.parse(x, childContext(ctx, i)));
      },
      toPlain: (vs) => vs.map((x) => item.toPlain(x)),
    };
  },

  nullable<O, I>(inner: FieldType<O, I>): FieldType<O | null, I | null> {
    return {
      label: `${inner.label} or null`,
      parse: (v, ctx) => (v === null ? null : inner.parse(v, ctx)),
      toPlain: (v) => (v === null ? null : inner.toPlain(v)),
    };
  },

  /** A mapping from free-form names (config group names, preset names) to values. */
  record<O, I>(value: FieldType<O, I>, opts: { checkKey?: (key: string, ctx: ParseContext) => void } = {}): FieldType<Record<string, O>, Record<string, I>> {
    const label = `mapping of name to ${value.label}`;
    return {
      label,
      parse(v, ctx) {
        if (!isPlainObject(v)) return ctx.path.fail(`expected a ${label}, got ${describeValue(v)}`);
        const out: Record<string, O> = {};
        for (const [k, x] of Object.entries(v)) {
          const c = childContext(ctx, k);
          opts.checkKey?.(k, c);
          out[k] = value.parse(x, c);
        }
        return out;
      },
      toPlain(v) {
        const out: Record<string, unknown> = {};
        for (const [k, x] of Object.entries(v)) out[k] = value.toPlain(x);
        return out;
      },
    };
  },

  /**
   * A nested strict object (pydantic sub-model): known fields only, defaults
   * filled, then `validate` (the model validator) may check and complete it.
   */
  object<const F extends readonly FieldSpec[]>(
    label: string,
    fields: F,
    opts: { validate?: (value: FieldsOut<F>, ctx: ParseContext) => FieldsOut<F> } = {},
  ): FieldType<FieldsOut<F>, FieldsIn<F>> & { readonly fields: F } {
    return {
      label,
      fields,
      parse(v, ctx) {
        if (!isPlainObject(v)) return ctx.path.fail(`expected ${label} (a mapping), got ${describeValue(v)}`);
        const parsed = parseFields(fields, v, ctx);
        return opts.validate ? opts.validate(parsed, ctx) : parsed;
      },
      toPlain: (v) => fieldsToPlain(fields, v as Record<string, unknown>),
    };
  },

  /** Any YAML data (free-form keyword arguments); copied, checked to be plain data. */
  data(label = 'any value'): FieldType<unknown> {
    const check = (v: unknown, ctx: ParseContext): unknown => {
      if (v === null || ['string', 'number', 'boolean'].includes(typeof v)) return v;
      if (Array.isArray(v)) return v.map((x, i) => check(x, childContext(ctx, i)));
      if (isPlainObject(v)) {
        const o: Record<string, unknown> = {};
        for (const [k, x] of Object.entries(v)) o[k] = check(x, childContext(ctx, k));
        return o;
      }
      return ctx.path.fail(`expected plain data, got ${describeValue(v)}`);
    };
    return { label, parse: check, toPlain: identity };
  },

  /**
   * Tries each alternative in order; the first that accepts wins. When all
   * reject, the error of `blame(value)`'s alternative is reported if given
   * (the one the value's shape points at), else a summary.
   */
  oneOf<O, I>(label: string, alternatives: readonly FieldType<O, I>[], blame?: (v: unknown) => number | undefined): FieldType<O, I> {
    return {
      label,
      parse(v, ctx) {
        const b = blame?.(v);
        if (b !== undefined) return alternatives[b].parse(v, ctx);
        for (const alt of alternatives) {
          const warnings: string[] = [];
          try {
            const out = alt.parse(v, { ...ctx, warnings });
            ctx.warnings.push(...warnings);
            return out;
          } catch (e) {
            if (!(e instanceof RecipeError)) throw e;
          }
        }
        return ctx.path.fail(`expected ${label}, got ${describeValue(v)}`);
      },
      toPlain(v) {
        return alternatives[0].toPlain(v);
      },
    };
  },
};
