/**
 * The model as modifiers and pipelines see it: a tree of modules with Hugging
 * Face names (`model.layers.3.self_attn.q_proj`), each with its class-name
 * chain (`['Linear']`, `['LlamaDecoderLayer']`) and its own parameters (GPU
 * tensors, possibly loaded on first use), plus forward hooks that calibration
 * passes call with the module's input and output tensors.
 *
 * Architectures (src/models/<architecture>) build this tree and call
 * `Module.callHooks` from their forward; modifiers match modules with recipe
 * targets (src/recipe/match.ts) and read or rewrite their parameters.
 * Keep this surface small: several modules are written against it.
 */
import type { Tensor } from '../gpu/tensor.js';
import type { DType } from '../gpu/dtype.js';
import type { Hardware } from '../gpu/hardware.js';
import type { Recipe } from '../recipe/recipe.js';
import type { State } from './state.js';

// ---------------------------------------------------------------------------
// Parameters

/** Where a lazily loaded parameter's values come from (a safetensors entry, usually). */
export interface ParameterSource {
  readonly shape: readonly number[];
  /** Dtype of the tensor `load()` returns. */
  readonly dtype: DType;
  /** Uploads the values to the GPU; called again after `release()`. */
  load(): Promise<Tensor>;
}

/**
 * One named tensor of a module (`weight`, `bias`, `weight_scale`). Either
 * resident (a GPU tensor held all along) or lazy (loaded from its source on
 * first `get()`, and droppable again with `release()` while unmodified), so
 * a data-free run can stream a model larger than GPU memory.
 */
export class Parameter {
  private tensor: Tensor | undefined;
  private loading: Promise<Tensor> | undefined;
  private changed = false;
  private _shape: readonly number[];
  private _dtype: DType;

  private constructor(
    private readonly source: ParameterSource | undefined,
    tensor: Tensor | undefined,
  ) {
    this.tensor = tensor;
    this._shape = tensor ? [...tensor.shape] : [...source!.shape];
    this._dtype = tensor ? tensor.dtype : source!.dtype;
  }

  /** A parameter holding `tensor` (the parameter owns it from now on). */
  static fromTensor(tensor: Tensor): Parameter {
    return new Parameter(undefined, tensor);
  }

  /** A parameter whose values are loaded from `source` when first needed. */
  static lazy(source: ParameterSource): Parameter {
    return new Parameter(source, undefined);
  }

  get shape(): readonly number[] {
    return this._shape;
  }

  get dtype(): DType {
    return this._dtype;
  }

  /** A GPU tensor is held right now. */
  get resident(): boolean {
    return this.tensor !== undefined;
  }

  /** Values can be reloaded from a source (until `set()` replaces them). */
  get lazy(): boolean {
    return this.source !== undefined && !this.changed;
  }

  /** `set()` has replaced the original values. */
  get modified(): boolean {
    return this.changed;
  }

  /**
   * The values on the GPU, loading them first if needed. The tensor stays
   * owned by the parameter: do not dispose it; it is valid until `set()`,
   * `release()` or `dispose()`.
   */
  async get(): Promise<Tensor> {
    if (this.tensor) return this.tensor;
    if (!this.source || this.changed) throw new Error('parameter was disposed and has no source to reload it from');
    this.loading ??= this.source.load().then(
      (t) => {
        this.loading = undefined;
        if (t.shape.length !== this._shape.length || t.shape.some((d, i) => d !== this._shape[i])) {
          t.dispose();
          throw new Error(`parameter source returned shape [${t.shape.join(', ')}], expected [${this._shape.join(', ')}]`);
        }
        this.tensor = t;
        this._dtype = t.dtype;
        return t;
      },
      (e: unknown) => {
        this.loading = undefined;
        throw e;
      },
    );
    return this.loading;
  }

  /**
   * Replaces the values (GPTQ writing Q(W), SmoothQuant rescaling). The
   * parameter takes ownership of `tensor` and disposes the one it held.
   * The shape must stay the same; the dtype may change.
   */
  set(tensor: Tensor): void {
    if (tensor.shape.length !== this._shape.length || tensor.shape.some((d, i) => d !== this._shape[i])) {
      throw new Error(`cannot set a tensor of shape [${tensor.shape.join(', ')}] into a parameter of shape [${this._shape.join(', ')}]`);
    }
    if (this.tensor && this.tensor !== tensor) this.tensor.dispose();
    this.tensor = tensor;
    this._dtype = tensor.dtype;
    this.changed = true;
  }

  /** Frees the GPU copy if it can be reloaded unchanged from its source; otherwise does nothing. */
  release(): void {
    if (this.tensor && this.lazy) {
      this.tensor.dispose();
      this.tensor = undefined;
    }
  }

  /** Frees the GPU copy unconditionally (modified values are lost). */
  dispose(): void {
    this.tensor?.dispose();
    this.tensor = undefined;
  }
}

// ---------------------------------------------------------------------------
// Hooks

/**
 * When a hook runs: `forward_pre` before a module's forward (inputs only),
 * `forward` after it (inputs and output); `query`/`key`/`value` on attention
 * modules with the q/k/v states (KV-cache quantization).
 */
export type HookKind = 'forward_pre' | 'forward' | 'query' | 'key' | 'value';

/** What a hook receives. Tensors belong to the forward pass: read them, do not dispose or keep them. */
export interface HookCall {
  readonly module: Module;
  readonly kind: HookKind;
  /** Positional inputs: `[x]` of shape [tokens, in_features] for a Linear; `[states]` for query/key/value. */
  readonly inputs: readonly Tensor[];
  /** The module's output (`forward` hooks only). */
  readonly output?: Tensor;
  /**
   * Keyword arguments of the call that the positional inputs do not carry
   * (llm-compressor's `with_kwargs=True` hooks), e.g. `{ shape }` for a
   * decoder layer or attention block, so a modifier can replay the module
   * later (`CausalLM.moduleForward`). Read-only; absent when the forward has none.
   */
  readonly kwargs?: Readonly<Record<string, unknown>>;
}

/** A hook callback. It may record GPU work without awaiting it; return a promise only when it must wait. */
export type HookFn = (call: HookCall) => void | Promise<void>;

/** Returned by `registerHook`; `remove()` unregisters (idempotent). */
export interface HookHandle {
  readonly module: Module;
  readonly kind: HookKind;
  readonly removed: boolean;
  remove(): void;
}

interface HookEntry extends HookHandle {
  readonly fn: HookFn;
}

/**
 * The model-wide hook switch, shared by every module of one tree. Sequential
 * pipelines run a second, hook-free "propagation" pass per layer
 * (llm-compressor's `HooksMixin.disable_hooks`).
 */
export class HookRegistry {
  private disabledExcept: ReadonlySet<HookHandle> | undefined;

  /** Whether a hook runs now. */
  isActive(handle: HookHandle): boolean {
    return !handle.removed && (this.disabledExcept === undefined || this.disabledExcept.has(handle));
  }

  /** Runs `fn` with every hook off except those in `keep`; restores the previous state afterwards (nests). */
  async withHooksDisabled<T>(fn: () => Promise<T> | T, keep: Iterable<HookHandle> = []): Promise<T> {
    const prev = this.disabledExcept;
    const kept = new Set(keep);
    if (prev) for (const h of [...kept]) if (!prev.has(h)) kept.delete(h);
    this.disabledExcept = kept;
    try {
      return await fn();
    } finally {
      this.disabledExcept = prev;
    }
  }
}

// ---------------------------------------------------------------------------
// Modules

/**
 * A node of the module tree. Build a tree with `new Module(['LlamaForCausalLM'])`
 * and `addModule(...)`; every module of a tree shares the root's {@link HookRegistry}.
 */
export class Module {
  /** Full dotted name; '' for the root. */
  readonly name: string;
  /** Class names, most specific first; recipe targets such as `Linear` match any of them. */
  readonly classNames: readonly string[];
  readonly parent: Module | undefined;
  readonly hooks: HookRegistry;
  private readonly childMap = new Map<string, Module>();
  private readonly paramMap = new Map<string, Parameter>();
  private readonly hookMap = new Map<HookKind, HookEntry[]>();

  constructor(classNames: readonly string[], parent?: { module: Module; localName: string }) {
    if (classNames.length === 0) throw new Error('a module needs at least one class name');
    this.classNames = [...classNames];
    this.parent = parent?.module;
    this.name = parent ? (parent.module.name ? `${parent.module.name}.${parent.localName}` : parent.localName) : '';
    this.hooks = parent ? parent.module.hooks : new HookRegistry();
  }

  /** The last component of the name (`q_proj`); '' for the root. */
  get localName(): string {
    const i = this.name.lastIndexOf('.');
    return i < 0 ? this.name : this.name.slice(i + 1);
  }

  get children(): ReadonlyMap<string, Module> {
    return this.childMap;
  }

  /** This module's own parameters (not its children's), by local name. */
  get parameters(): ReadonlyMap<string, Parameter> {
    return this.paramMap;
  }

  /** True when `className` is in the class chain. */
  isA(className: string): boolean {
    return this.classNames.includes(className);
  }

  /** Adds a child module and returns it. */
  addModule(localName: string, classNames: readonly string[]): Module {
    if (!localName || localName.includes('.')) throw new Error(`invalid module name ${JSON.stringify(localName)} under ${JSON.stringify(this.name)}`);
    if (this.childMap.has(localName)) throw new Error(`module ${this.name ? this.name + '.' : ''}${localName} already exists`);
    const child = new Module(classNames, { module: this, localName });
    this.childMap.set(localName, child);
    return child;
  }

  /** Adds or replaces a parameter; a Tensor is wrapped as a resident parameter. */
  setParameter(localName: string, value: Parameter | Tensor): Parameter {
    if (!localName || localName.includes('.')) throw new Error(`invalid parameter name ${JSON.stringify(localName)}`);
    const p = value instanceof Parameter ? value : Parameter.fromTensor(value);
    const old = this.paramMap.get(localName);
    if (old && old !== p) old.dispose();
    this.paramMap.set(localName, p);
    return p;
  }

  /** Removes a parameter and frees its GPU copy. */
  deleteParameter(localName: string): void {
    this.paramMap.get(localName)?.dispose();
    this.paramMap.delete(localName);
  }

  getParameter(localName: string): Parameter | undefined {
    return this.paramMap.get(localName);
  }

  /** This module and all below it, pre-order (PyTorch's `named_modules()` order). */
  *modules(): IterableIterator<Module> {
    yield this;
    for (const c of this.childMap.values()) yield* c.modules();
  }

  /** `[fullName, parameter]` for every parameter at or below this module, in module order. */
  *namedParameters(): IterableIterator<[string, Parameter]> {
    for (const m of this.modules()) for (const [n, p] of m.paramMap) yield [m.name ? `${m.name}.${n}` : n, p];
  }

  /** The descendant at a dotted path relative to this module ('' is this module). */
  getModule(relativeName: string): Module | undefined {
    if (relativeName === '') return this;
    let m: Module | undefined = this;
    for (const part of relativeName.split('.')) {
      m = m.childMap.get(part);
      if (!m) return undefined;
    }
    return m;
  }

  /** Registers `fn` to run during forwards of this module. */
  registerHook(kind: HookKind, fn: HookFn): HookHandle {
    const entries = this.hookMap.get(kind) ?? [];
    this.hookMap.set(kind, entries);
    let removed = false;
    const entry: HookEntry = {
      module: this,
      kind,
      fn,
      get removed() {
        return removed;
      },
      remove: () => {
        if (removed) return;
        removed = true;
        const list = this.hookMap.get(kind);
        const i = list ? list.indexOf(entry) : -1;
        if (i >= 0) list!.splice(i, 1);
      },
    };
    entries.push(entry);
    return entry;
  }

  /** Whether any active hook of `kind` is registered (lets a forward skip work nobody reads). */
  hasHooks(kind: HookKind): boolean {
    const list = this.hookMap.get(kind);
    return !!list && list.some((h) => this.hooks.isActive(h));
  }

  /**
   * Runs the active hooks of `kind` in registration order. Model forwards
   * call this; an error in a hook propagates to the forward.
   */
  async callHooks(kind: HookKind, inputs: readonly Tensor[], output?: Tensor, kwargs?: Readonly<Record<string, unknown>>): Promise<void> {
    const list = this.hookMap.get(kind);
    if (!list || list.length === 0) return;
    const call: HookCall = { module: this, kind, inputs, output, kwargs };
    for (const h of [...list]) {
      if (!this.hooks.isActive(h)) continue;
      const r = h.fn(call);
      if (r) await r;
    }
  }
}

// ---------------------------------------------------------------------------
// Models

/** What a model's save step receives from `oneshot`. */
export interface SaveContext {
  /** The recipe that was applied; `recipeYaml` is its serialisation, for `recipe.yaml` beside the checkpoint. */
  readonly recipe: Recipe;
  readonly recipeYaml: string;
  readonly state: State;
  readonly hardware: Hardware;
}

/** A loaded model: the module tree plus what pipelines and savers need. */
export interface Model {
  /** `config.json`'s `architectures[0]`, e.g. `LlamaForCausalLM`. */
  readonly architecture: string;
  readonly root: Module;
  /** The parsed `config.json`, when the model came from a Hugging Face folder. */
  readonly config?: Readonly<Record<string, unknown>>;
  /**
   * Class names of the units calibrated one at a time (Hugging Face's
   * `_no_split_modules`, e.g. `['LlamaDecoderLayer']`): the default
   * `sequentialTargets`.
   */
  readonly defaultSequentialTargets?: readonly string[];
  /** Writes the (compressed) model to `outputDir`; supplied by the checkpoint writer. */
  save?(outputDir: string, context: SaveContext): Promise<void>;
  /** Frees the model's GPU memory. */
  dispose?(): void | Promise<void>;
}

/** Loads a model from a path (a Hugging Face folder) onto `hardware`. */
export type ModelLoader = (path: string, hardware: Hardware) => Promise<Model>;

let defaultLoader: ModelLoader | undefined;

/** Sets the loader `oneshot` uses when given a model path (the checkpoint reader registers itself here). */
export function registerModelLoader(loader: ModelLoader | undefined): void {
  defaultLoader = loader;
}

export function getModelLoader(): ModelLoader | undefined {
  return defaultLoader;
}
