/**
 * CompressionLifecycle (llm-compressor `core/lifecycle.py`): owns the State and
 * the recipe's modifiers, and turns initialize / event / finalize calls into
 * modifier hooks, in recipe order.
 */
import { loadRecipe } from '../recipe/load.js';
import { Recipe, type RecipeInput } from '../recipe/recipe.js';
import type { Modifier } from '../modifiers/modifier.js';
import { Event, EventType, type EventPayload } from './events.js';
import { State, type StateUpdate } from './state.js';

/** Arguments of `initialize`: the recipe plus anything to put into the state. */
export interface InitializeArgs extends StateUpdate {
  recipe?: RecipeInput;
  /** Keep only stages whose key starts with this name. */
  recipeStage?: string;
  /** Stored on `recipe.args`. */
  recipeArgs?: Readonly<Record<string, unknown>>;
  /** Passed to every modifier's `onInitialize`. */
  sequentialTargets?: readonly string[];
}

/** Misuse of the lifecycle (events out of order, finalizing twice, …). */
export class LifecycleError extends Error {
  override name = 'LifecycleError';
}

/** Training batch events must come in this order within a batch (calibration events are not checked). */
const BATCH_ORDER: readonly EventType[] = [EventType.BATCH_START, EventType.LOSS_CALCULATED, EventType.OPTIM_PRE_STEP, EventType.OPTIM_POST_STEP, EventType.BATCH_END];

export class CompressionLifecycle {
  readonly state = new State();
  private recipe_: Recipe | undefined;
  private initialized_ = false;
  private finalized_ = false;
  private lastBatchEvent: EventType = EventType.BATCH_END;
  /** Global step of the latest event (training loops pass it; oneshot stays at 0). */
  globalStep = 0;

  /** The recipe given to `initialize` (undefined before). */
  get recipe(): Recipe | undefined {
    return this.recipe_;
  }

  get modifiers(): readonly Modifier[] {
    return this.recipe_?.modifiers ?? [];
  }

  get initialized(): boolean {
    return this.initialized_;
  }

  get finalized(): boolean {
    return this.finalized_;
  }

  /**
   * Updates the state, builds the recipe and initializes every modifier in
   * order. Once initialized, later calls only update the state (as in
   * llm-compressor); passing a recipe again is an error rather than being
   * silently ignored.
   */
  async initialize(args: InitializeArgs = {}): Promise<unknown[]> {
    const { recipe, recipeStage, recipeArgs, sequentialTargets, ...stateUpdate } = args;
    this.state.update(stateUpdate);
    if (this.initialized_) {
      if (recipe !== undefined) throw new LifecycleError('The session is already initialized; reset it before initializing with another recipe');
      return [];
    }
    if (this.finalized_) throw new LifecycleError('Cannot initialize a finalized session; reset it first');
    this.recipe_ = recipe === undefined ? Recipe.fromModifiers([]) : await loadRecipe(recipe, { stage: recipeStage, args: recipeArgs });
    const data: unknown[] = [];
    for (const mod of this.recipe_.modifiers) {
      for (const w of mod.warnings) this.state.loggers.warning(w, { modifier: mod.type });
      await mod.initialize(this.state, { sequentialTargets, modifiers: this.recipe_.modifiers });
    }
    this.initialized_ = true;
    this.state.loggers.debug(`Compression lifecycle initialized for ${this.recipe_.modifiers.length} modifiers`);
    return data;
  }

  /** Finalizes every modifier in order. Errors before `initialize` and on a second call. */
  async finalize(): Promise<unknown[]> {
    if (!this.initialized_) throw new LifecycleError('Cannot finalize before initializing');
    if (this.finalized_) throw new LifecycleError('Cannot finalize more than once');
    for (const mod of this.modifiers) await mod.finalize(this.state);
    this.finalized_ = true;
    this.state.loggers.debug(`Compression lifecycle finalized for ${this.modifiers.length} modifiers`);
    return [];
  }

  /**
   * Delivers one event to every modifier in recipe order. INITIALIZE and
   * FINALIZE have their own methods; batch events must keep their order;
   * LOSS_CALCULATED needs a loss.
   */
  async event(type: EventType, payload: EventPayload = {}): Promise<unknown[]> {
    if (!this.initialized_) throw new LifecycleError(`Cannot invoke event ${type} before initializing`);
    if (this.finalized_) throw new LifecycleError(`Cannot invoke event ${type} after finalizing`);
    if (type === EventType.INITIALIZE || type === EventType.FINALIZE) {
      throw new LifecycleError(`Cannot invoke ${type} event. Use the corresponding method instead.`);
    }
    if (!Object.values(EventType).includes(type)) throw new LifecycleError(`Unknown event type ${JSON.stringify(type)}`);
    this.checkBatchOrder(type);
    if (type === EventType.LOSS_CALCULATED && (payload.loss === undefined || payload.loss === null)) {
      throw new LifecycleError('Loss must be provided for loss calculated event');
    }
    if (type === EventType.SEQUENTIAL_EPOCH_END && !payload.subgraph) {
      throw new LifecycleError('A sequential_epoch_end event needs the subgraph whose modules were calibrated');
    }
    if (payload.globalStep !== undefined) this.globalStep = payload.globalStep;
    if (payload.batchData !== undefined) this.state.batchData = payload.batchData;
    if (payload.loss !== undefined) this.state.loss = payload.loss;
    const event = new Event({ type, globalStep: this.globalStep, globalBatch: payload.globalBatch ?? 0 });
    for (const mod of this.modifiers) await mod.updateEvent(this.state, event, payload);
    return [];
  }

  private checkBatchOrder(type: EventType): void {
    if (!BATCH_ORDER.includes(type)) return;
    const valid = type === EventType.BATCH_START ? this.lastBatchEvent !== EventType.BATCH_START : BATCH_ORDER.indexOf(this.lastBatchEvent) <= BATCH_ORDER.indexOf(type);
    if (!valid) {
      throw new LifecycleError(`Lifecycle events must appear in the order ${BATCH_ORDER.join(' → ')}; ${this.lastBatchEvent} was called before ${type}`);
    }
    this.lastBatchEvent = type;
  }

  /**
   * Finalizes initialized, unfinalized modifiers (their errors are logged,
   * not thrown) and returns the lifecycle to its initial state. The state is
   * cleared too.
   */
  async reset(): Promise<void> {
    for (const mod of this.modifiers) {
      if (!mod.initialized || mod.finalized) continue;
      try {
        await mod.finalize(this.state);
      } catch (e) {
        this.state.loggers.warning(`Exception during finalizing modifier: ${e instanceof Error ? e.message : String(e)}`, { modifier: mod.type });
      }
    }
    this.recipe_ = undefined;
    this.initialized_ = false;
    this.finalized_ = false;
    this.lastBatchEvent = EventType.BATCH_END;
    this.globalStep = 0;
    Object.assign(this.state, new State());
  }

  /** Allows initializing again with the same recipe and model (llm-compressor `reset_stage`). */
  resetStage(): void {
    this.initialized_ = false;
    this.finalized_ = false;
  }
}
