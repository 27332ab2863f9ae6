/**
 * The modifier base class (llm-compressor `modifiers/modifier.py`): validated
 * recipe fields, lifecycle flags, and the hooks the lifecycle calls.
 *
 * Writing a modifier:
 *
 * ```ts
 * const MY_FIELDS = [...MODIFIER_FIELDS, field('alpha', t.float({ min: 0 }), { default: 1, doc: 'Strength.' })] as const;
 * export interface MyModifier extends FieldsOut<typeof MY_FIELDS> {}
 * export class MyModifier extends Modifier {
 *   static override readonly fields = MY_FIELDS;
 *   override onInitialize(state: State) { ... }
 * }
 * ModifierFactory.register('MyModifier', MyModifier); // usable from YAML as `MyModifier: {alpha: 0.5}`
 * ```
 *
 * Field values are assigned by this constructor, so subclasses declare them
 * through the interface merge above (or `declare` fields), never with class
 * field initializers, which would overwrite them.
 */
import { Event, EventType, type EventPayload, type Subgraph } from '../core/events.js';
import type { State } from '../core/state.js';
import { NotImplementedError } from '../recipe/errors.js';
import type { HookFn, HookHandle, HookKind, Module } from '../core/model.js';
import { FieldPath, field, fieldsToPlain, parseFields, snakeCase, t, type FieldSpec, type FieldsIn, type FieldsOut, type KeyStyle, type ParseContext } from '../recipe/schema.js';

/** Fields every modifier has (all default to null). */
export const MODIFIER_FIELDS = [
  field('index', t.nullable(t.int()), { default: null, doc: 'Position of the modifier in its recipe (informational).' }),
  field('group', t.nullable(t.string()), { default: null, doc: 'Recipe group; set from the `<group>_modifiers` key that holds the modifier.' }),
  field('start', t.nullable(t.float()), { default: null, doc: 'First step (or epoch) of the training-time window; null in oneshot.' }),
  field('end', t.nullable(t.float()), { default: null, doc: 'Step (or epoch) at which the window ends; null in oneshot.' }),
  field('update', t.nullable(t.float()), { default: null, doc: 'Update interval within the window; null or 0 means every step.' }),
] as const;

export type ModifierOptions = FieldsIn<typeof MODIFIER_FIELDS>;

/** How a modifier's options were written, for error paths. */
export interface ModifierContext {
  /** Path of the modifier in its recipe (`quant_stage.quant_modifiers.GPTQModifier`); defaults to the class name. */
  path?: FieldPath;
  /** `yaml` for snake_case recipe fields, `ts` (default) for camelCase options. */
  keys?: KeyStyle;
}

/** Options the lifecycle passes to `onInitialize`. */
export interface InitializeOptions {
  /** The user's `sequentialTargets` (class names, names or `re:` patterns of the calibration units). */
  readonly sequentialTargets?: readonly string[];
  /**
   * Every modifier of the recipe, in order (this one included), so a
   * modifier can read its neighbours' settings: AWQ quantizes its grid
   * search with the scheme of the quantizing modifiers after it.
   */
  readonly modifiers?: readonly Modifier[];
}

/** A modifier class as the factory and recipes use it. */
export interface ModifierClass<M extends Modifier = Modifier> {
  new (options: never, context?: ModifierContext): M;
  /** The recipe fields, in the order they are shown and written. */
  readonly fields: readonly FieldSpec[];
  /** Whether every instance needs calibration data (instances may refine this). */
  readonly requiresCalibrationData: boolean;
  /** Fields llm-compressor used to accept here, with what to do instead (turned into errors that say so). */
  readonly removedFields?: Readonly<Record<string, string>>;
  readonly name: string;
  readonly prototype: M;
}

const typeNames = new WeakMap<object, string>();

/** Records the name a class is registered under (the factory calls this), used when writing recipes. */
export function setModifierTypeName(cls: object, name: string): void {
  typeNames.set(cls, name);
}

/** The error an unimplemented modifier raises when a run reaches it. */
export function notImplemented(modifier: Modifier): NotImplementedError {
  return new NotImplementedError(`${modifier.type} is not implemented yet in webgpu-compressor`);
}

/** Hook results: `false` from `onInitialize`/`onFinalize` marks failure, as in llm-compressor. */
type HookResult = void | boolean | Promise<void | boolean>;

/** One field as `wgc recipe check` shows it. */
export interface ResolvedField {
  /** Recipe (snake_case) name. */
  readonly name: string;
  /** Value in recipe form; undefined when the default is decided later (see `defaultLabel`). */
  readonly value: unknown;
  readonly defaultLabel?: string;
  readonly isDefault: boolean;
  readonly type: string;
  readonly doc: string;
}

export interface Modifier extends FieldsOut<typeof MODIFIER_FIELDS> {}

/** Base of every modifier. Subclasses override the `on*` hooks they need. */
export abstract class Modifier {
  static readonly fields: readonly FieldSpec[] = MODIFIER_FIELDS;
  static readonly requiresCalibrationData: boolean = false;

  /** Deprecations and adjustments made while validating the fields (llm-compressor logs these). */
  readonly warnings: string[] = [];
  /** Where the modifier sits in its recipe (`quant_stage.quant_modifiers.GPTQModifier`), for error messages. */
  readonly recipePath: FieldPath;
  private readonly keyStyle: KeyStyle;
  private initialized_ = false;
  private finalized_ = false;
  private started_ = false;
  private ended_ = false;
  private readonly hookHandles = new Set<HookHandle>();

  constructor(options: object = {}, context: ModifierContext = {}) {
    const cls = new.target as unknown as ModifierClass;
    this.recipePath = context.path ?? FieldPath.root(typeNames.get(cls) ?? cls.name);
    this.keyStyle = context.keys ?? 'ts';
    const ctx: ParseContext = { path: this.recipePath, keys: this.keyStyle, warnings: this.warnings };
    if (cls.removedFields && options && typeof options === 'object') {
      for (const k of Object.keys(options)) {
        const hint = cls.removedFields[this.keyStyle === 'yaml' ? k : snakeCase(k)];
        if (hint) this.recipePath.child(k).fail(`unknown field (${hint})`);
      }
    }
    for (const f of cls.fields) {
      if (f.key in Modifier.prototype) throw new Error(`${cls.name}: field ${f.name} collides with Modifier.${f.key}; rename the field`);
    }
    Object.assign(this, parseFields(cls.fields, options, ctx));
    this.validate(ctx);
  }

  /**
   * Cross-field checks (pydantic model validators). Runs at the end of the
   * base constructor: read and write only recipe fields here. Throw with
   * `this.fieldPath(name).fail(...)` or `ctx.path.fail(...)`.
   */
  protected validate(_ctx: ParseContext): void {}

  /** Path of one of this modifier's fields, spelled as the input spelled it. */
  protected fieldPath(yamlName: string): FieldPath {
    const spec = this.spec.fields.find((f) => f.name === yamlName);
    return this.recipePath.child(this.keyStyle === 'yaml' || !spec ? yamlName : spec.key);
  }

  private get spec(): ModifierClass {
    return this.constructor as ModifierClass;
  }

  /** The recipe name of this modifier's class (`GPTQModifier`). */
  get type(): string {
    return typeNames.get(this.constructor) ?? this.constructor.name;
  }

  /** Whether this modifier needs calibration data (decides between the data-free and calibration pipelines). */
  get requiresCalibrationData(): boolean {
    return this.spec.requiresCalibrationData;
  }

  get initialized(): boolean {
    return this.initialized_;
  }

  get finalized(): boolean {
    return this.finalized_;
  }

  get started(): boolean {
    return this.started_;
  }

  get ended(): boolean {
    return this.ended_;
  }

  // -------------------------------------------------------------------------
  // Lifecycle drivers (called by CompressionLifecycle, in llm-compressor's order)

  /** Runs `onInitialize`, then `onStart` if the start window already covers step 0. */
  async initialize(state: State, options: InitializeOptions = {}): Promise<void> {
    if (this.initialized_) throw new Error(`${this.type}: Cannot initialize a modifier that has already been initialized`);
    if (this.finalized_) throw new Error(`${this.type}: Cannot initialize a modifier that has already been finalized`);
    this.initialized_ = (await this.onInitialize(state, options)) !== false;
    const fakeStart = new Event({ type: EventType.BATCH_START, globalStep: 0 });
    if (this.shouldStart(fakeStart)) {
      await this.onStart(state, fakeStart);
      this.started_ = true;
    }
  }

  /** Runs `onFinalize`, then removes any hooks the modifier left registered. */
  async finalize(state: State): Promise<void> {
    if (this.finalized_) throw new Error(`${this.type}: cannot finalize a modifier twice`);
    if (!this.initialized_) throw new Error(`${this.type}: cannot finalize an uninitialized modifier`);
    try {
      this.finalized_ = (await this.onFinalize(state)) !== false;
    } finally {
      this.removeHooks();
    }
  }

  /**
   * Turns one event into hooks: always `onEvent` first; then the calibration
   * hooks for calibration events; for batch events `onStart`/`onEnd` when the
   * window opens or closes, and `onUpdate` while it is open.
   */
  async updateEvent(state: State, event: Event, payload: EventPayload = {}): Promise<void> {
    if (!this.initialized_) throw new Error(`${this.type}: Cannot update an uninitialized modifier`);
    if (this.finalized_) throw new Error(`${this.type}: Cannot update a finalized modifier`);

    await this.onEvent(state, event, payload);

    switch (event.type) {
      case EventType.CALIBRATION_START:
        await this.onCalibrationStart(state, event);
        this.started_ = true;
        return;
      case EventType.SEQUENTIAL_EPOCH_END:
        if (!payload.subgraph) throw new Error(`${this.type}: a ${EventType.SEQUENTIAL_EPOCH_END} event needs a subgraph`);
        await this.onSequentialEpochEnd(state, payload.subgraph, event);
        return;
      case EventType.CALIBRATION_END:
        await this.onCalibrationEnd(state, event);
        this.ended_ = true;
        return;
    }

    if (event.type === EventType.BATCH_START && !this.started_ && this.shouldStart(event)) {
      await this.onStart(state, event);
      this.started_ = true;
      await this.onUpdate(state, event);
      return;
    }
    if (event.type === EventType.BATCH_END && !this.ended_ && this.shouldEnd(event)) {
      await this.onEnd(state, event);
      this.ended_ = true;
      await this.onUpdate(state, event);
      return;
    }
    if (this.started_ && !this.ended_) await this.onUpdate(state, event);
  }

  /** `start` is set, reached, and `end` not yet reached. */
  shouldStart(event: Event): boolean {
    if (this.start === null) return false;
    const current = event.currentIndex;
    return this.start <= current && (this.end === null || current < this.end);
  }

  /** `end` is set and reached. */
  shouldEnd(event: Event): boolean {
    return this.end !== null && event.currentIndex >= this.end;
  }

  // -------------------------------------------------------------------------
  // Hooks to override

  /** Prepares the modifier for `state` (attach schemes, resolve targets). Return `false` to mark failure. */
  abstract onInitialize(state: State, options: InitializeOptions): HookResult;

  /** Releases what the modifier holds; raise if work was left undone. */
  onFinalize(_state: State): HookResult {
    return true;
  }

  /** Called first for every event. */
  onEvent(_state: State, _event: Event, _payload: EventPayload): void | Promise<void> {}

  onStart(_state: State, _event: Event): void | Promise<void> {}

  onUpdate(_state: State, _event: Event): void | Promise<void> {}

  onEnd(_state: State, _event: Event): void | Promise<void> {}

  /** Calibration begins: register hooks on the modules to observe. */
  onCalibrationStart(_state: State, _event: Event): void | Promise<void> {}

  /** The modules of `subgraph` have seen all calibration data: compress them now. */
  onSequentialEpochEnd(_state: State, _subgraph: Subgraph, _event: Event): void | Promise<void> {}

  /** Calibration is over: remove hooks, freeze parameters. */
  onCalibrationEnd(_state: State, _event: Event): void | Promise<void> {}

  // -------------------------------------------------------------------------
  // Hook management (llm-compressor HooksMixin)

  /** Registers a forward hook owned by this modifier; `removeHooks()` or finalization removes it. */
  protected registerHook(module: Module, kind: HookKind, fn: HookFn): HookHandle {
    const h = module.registerHook(kind, fn);
    this.hookHandles.add(h);
    return h;
  }

  /** Removes the given hooks of this modifier, or all of them. */
  protected removeHooks(handles?: Iterable<HookHandle>): void {
    for (const h of handles ? [...handles] : [...this.hookHandles]) {
      h.remove();
      this.hookHandles.delete(h);
    }
  }

  /** Hooks this modifier has registered and not removed. */
  get registeredHooks(): ReadonlySet<HookHandle> {
    return this.hookHandles;
  }

  // -------------------------------------------------------------------------
  // Recipe form

  /** The fields as a recipe writes them (snake_case, nulls and `group` left out). */
  toRecipeFields(): Record<string, unknown> {
    const plain = fieldsToPlain(this.spec.fields, this as unknown as Record<string, unknown>);
    delete plain.group;
    return plain;
  }

  /** Every field with its resolved value, for `wgc recipe check`. */
  resolvedFields(): ResolvedField[] {
    return this.spec.fields.map((f) => {
      const v = (this as unknown as Record<string, unknown>)[f.key];
      const isDefault = v === undefined || (f.hasDefault && JSON.stringify(v) === JSON.stringify(f.default));
      return {
        name: f.name,
        value: v === undefined ? undefined : v === null ? null : f.type.toPlain(v),
        defaultLabel: v === undefined ? f.defaultLabel : undefined,
        isDefault,
        type: f.type.label,
        doc: f.doc,
      };
    });
  }
}
