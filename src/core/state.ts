/**
 * The working context modifiers act on (llm-compressor `core/state.py`). The
 * tensors they compress are reachable through `model` (module parameters);
 * the GPU through `hardware`.
 */
import type { Hardware } from '../gpu/hardware.js';
import { LoggerManager } from '../loggers/manager.js';
import type { Model } from './model.js';

/**
 * Datasets for the run. Training is gone from llm-compressor, so only
 * `calib` is used today; its form is whatever the calibration pipeline
 * consumes (token windows from the model-execution code).
 */
export interface Data {
  train: unknown;
  val: unknown;
  test: unknown;
  calib: unknown;
}

/** What `State.update` accepts: any subset of the fields; `undefined` leaves a field as it is. */
export interface StateUpdate {
  model?: Model;
  teacherModel?: Model;
  optimizer?: unknown;
  loss?: unknown;
  data?: Partial<Data>;
  hardware?: Hardware;
  loggers?: LoggerManager;
  batchData?: unknown;
}

/** The state of one compression session. */
export class State {
  /** The model being compressed. */
  model: Model | undefined = undefined;
  /** A teacher for distillation (kept for recipe compatibility; unused in oneshot). */
  teacherModel: Model | undefined = undefined;
  /** Training optimizer (unused in oneshot). */
  optimizer: unknown = undefined;
  /** Latest loss, set on `LOSS_CALCULATED`. */
  loss: unknown = undefined;
  data: Data = { train: undefined, val: undefined, test: undefined, calib: undefined };
  /** The GPU device and the engine's per-device services; `rank`/`worldSize` live on it. */
  hardware: Hardware | undefined = undefined;
  loggers: LoggerManager = new LoggerManager();
  /** The current batch, set on batch events. */
  batchData: unknown = undefined;

  /** Copies the defined fields of `partial` into the state (data fields one by one). */
  update(partial: StateUpdate): this {
    if (partial.model !== undefined) this.model = partial.model;
    if (partial.teacherModel !== undefined) this.teacherModel = partial.teacherModel;
    if (partial.optimizer !== undefined) this.optimizer = partial.optimizer;
    if (partial.loss !== undefined) this.loss = partial.loss;
    if (partial.hardware !== undefined) this.hardware = partial.hardware;
    if (partial.loggers !== undefined) this.loggers = partial.loggers;
    if (partial.batchData !== undefined) this.batchData = partial.batchData;
    if (partial.data) {
      for (const k of ['train', 'val', 'test', 'calib'] as const) {
        if (partial.data[k] !== undefined) this.data[k] = partial.data[k];
      }
    }
    return this;
  }
}

/** `state.model`, or an error naming who needed it. */
export function requireModel(state: State, who: string): Model {
  if (!state.model) throw new Error(`${who} needs a model, but the session state has none (pass \`model\` to initialize)`);
  return state.model;
}

/** `state.hardware`, or an error naming who needed it. */
export function requireHardware(state: State, who: string): Hardware {
  if (!state.hardware) throw new Error(`${who} needs a GPU, but the session state has no hardware (pass \`hardware\` to initialize)`);
  return state.hardware;
}

/** What session calls return (llm-compressor `ModifiedState`). */
export interface ModifiedState {
  readonly model: Model | undefined;
  readonly optimizer: unknown;
  readonly loss: unknown;
  /** Non-undefined values the modifiers' hooks returned, in modifier order. */
  readonly modifierData: readonly unknown[];
}
