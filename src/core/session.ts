/**
 * Sessions (llm-compressor `core/session.py`, `core/session_functions.py`):
 * a CompressionSession wraps one lifecycle; `createSession` makes a scoped
 * one the active session; `callbacks` fire events on the active session.
 *
 * The active session is process-wide (llm-compressor's is thread-local). Two
 * compressions running concurrently in one JavaScript realm should each pass
 * their own session around (as `oneshot` and the pipelines do) instead of
 * relying on `activeSession()`.
 */
import type { Subgraph } from './events.js';
import { EventType, type EventPayload } from './events.js';
import { CompressionLifecycle, LifecycleError, type InitializeArgs } from './lifecycle.js';
import type { ModifiedState, State } from './state.js';

/** Fires lifecycle events on one session (or, for `callbacks`, on whichever session is active). */
export class LifecycleCallbacks {
  constructor(private readonly target: () => CompressionSession) {}

  /** Any event but INITIALIZE / FINALIZE. */
  event(type: EventType, payload: EventPayload = {}): Promise<ModifiedState> {
    if (type === EventType.INITIALIZE || type === EventType.FINALIZE) {
      return Promise.reject(new LifecycleError(`Cannot invoke ${type} event. Use the corresponding method instead.`));
    }
    return this.target().event(type, payload);
  }

  batchStart(batchData?: unknown, payload: EventPayload = {}): Promise<ModifiedState> {
    return this.event(EventType.BATCH_START, { ...payload, batchData });
  }

  lossCalculated(loss: unknown, payload: EventPayload = {}): Promise<ModifiedState> {
    return this.event(EventType.LOSS_CALCULATED, { ...payload, loss });
  }

  optimPreStep(payload: EventPayload = {}): Promise<ModifiedState> {
    return this.event(EventType.OPTIM_PRE_STEP, payload);
  }

  optimPostStep(payload: EventPayload = {}): Promise<ModifiedState> {
    return this.event(EventType.OPTIM_POST_STEP, payload);
  }

  batchEnd(payload: EventPayload = {}): Promise<ModifiedState> {
    return this.event(EventType.BATCH_END, payload);
  }

  /** Before the first calibration forward. */
  calibrationStart(payload: EventPayload = {}): Promise<ModifiedState> {
    return this.event(EventType.CALIBRATION_START, payload);
  }

  /** After `subgraph`'s modules have seen every calibration batch: modifiers compress them now. */
  sequentialEpochEnd(subgraph: Subgraph, payload: EventPayload = {}): Promise<ModifiedState> {
    return this.event(EventType.SEQUENTIAL_EPOCH_END, { ...payload, subgraph });
  }

  /** After the last subgraph. */
  calibrationEnd(payload: EventPayload = {}): Promise<ModifiedState> {
    return this.event(EventType.CALIBRATION_END, payload);
  }
}

/** One compression run's lifecycle and state. */
export class CompressionSession {
  readonly lifecycle = new CompressionLifecycle();
  /** Event helpers bound to this session. */
  readonly callbacks = new LifecycleCallbacks(() => this);

  get state(): State {
    return this.lifecycle.state;
  }

  private modified(data: unknown[]): ModifiedState {
    return { model: this.state.model, optimizer: this.state.optimizer, loss: this.state.loss, modifierData: data };
  }

  /** Puts `args` into the state, builds the recipe and initializes its modifiers. */
  async initialize(args: InitializeArgs = {}): Promise<ModifiedState> {
    return this.modified(await this.lifecycle.initialize(args));
  }

  async finalize(): Promise<ModifiedState> {
    return this.modified(await this.lifecycle.finalize());
  }

  async event(type: EventType, payload: EventPayload = {}): Promise<ModifiedState> {
    return this.modified(await this.lifecycle.event(type, payload));
  }

  /** Finalizes what was left initialized and starts over. */
  async reset(): Promise<void> {
    await this.lifecycle.reset();
  }

  resetStage(): void {
    this.lifecycle.resetStage();
  }

  /** The recipe as YAML, or undefined before `initialize`. */
  getSerializedRecipe(): string | undefined {
    return this.lifecycle.recipe?.yaml();
  }
}

/** A session made active by `createSession()`; disposing it restores the previously active one. */
export class ScopedSession extends CompressionSession implements Disposable {
  private closed = false;

  /** Leaves the scope. Idempotent; scopes closed out of order each remove only themselves. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const i = scopes.lastIndexOf(this);
    if (i >= 0) scopes.splice(i, 1);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

const globalSession = new CompressionSession();
const scopes: ScopedSession[] = [];

/**
 * Creates a session and makes it the active one.
 *
 * - `await createSession(async (session) => { … })`: active while the callback
 *   runs (awaited), restored afterwards even if it throws; returns its result.
 * - `using session = createSession();`: active until the end of the block.
 */
export function createSession(): ScopedSession;
export function createSession<T>(fn: (session: CompressionSession) => Promise<T> | T): Promise<T>;
export function createSession<T>(fn?: (session: CompressionSession) => Promise<T> | T): ScopedSession | Promise<T> {
  const session = new ScopedSession();
  scopes.push(session);
  if (!fn) return session;
  return (async () => {
    try {
      return await fn(session);
    } finally {
      session.close();
    }
  })();
}

/** The innermost open `createSession` scope, or the process-wide default session. */
export function activeSession(): CompressionSession {
  return scopes.length ? scopes[scopes.length - 1] : globalSession;
}

/** Resets the active session (finalizing what it left initialized). */
export async function resetSession(): Promise<void> {
  await activeSession().reset();
}

/** Event helpers that act on whichever session is active when called (llm-compressor `callbacks`). */
export const callbacks = new LifecycleCallbacks(activeSession);
