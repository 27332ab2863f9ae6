/**
 * Lifecycle events (llm-compressor `core/events/event.py`): what a pipeline
 * or training loop tells the session, and the step information that comes
 * with it.
 */
import type { Module } from './model.js';

/** Event types, with llm-compressor's string values. */
export const EventType = {
  /** Lifecycle: fired by `initialize()`, never through `event()`. */
  INITIALIZE: 'initialize',
  /** Lifecycle: fired by `finalize()`, never through `event()`. */
  FINALIZE: 'finalize',
  BATCH_START: 'batch_start',
  /** Requires `loss` in the payload. */
  LOSS_CALCULATED: 'loss_calculated',
  BATCH_END: 'batch_end',
  CALIBRATION_START: 'calibration_start',
  /** One sequential unit (subgraph) has been calibrated; carries the subgraph's modules. */
  SEQUENTIAL_EPOCH_END: 'sequential_epoch_end',
  CALIBRATION_END: 'calibration_end',
  OPTIM_PRE_STEP: 'optim_pre_step',
  OPTIM_POST_STEP: 'optim_post_step',
} as const;
export type EventType = (typeof EventType)[keyof typeof EventType];

/**
 * The modules one `SEQUENTIAL_EPOCH_END` covers: a decoder layer in the
 * sequential pipeline, a layer group in the data-free one, the whole model
 * in the basic one.
 */
export interface Subgraph {
  /** 0-based position among the pipeline's subgraphs. */
  readonly index: number;
  /** Number of subgraphs in this calibration pass. */
  readonly count: number;
  /** De-duplicated modules of the subgraph, in module order. */
  readonly modules: readonly Module[];
}

/** Extra data an event carries to the modifiers. */
export interface EventPayload {
  /** Current batch (training / calibration loops). */
  readonly batchData?: unknown;
  /** Loss for `LOSS_CALCULATED`. */
  readonly loss?: unknown;
  /** The calibrated unit, for `SEQUENTIAL_EPOCH_END`. */
  readonly subgraph?: Subgraph;
  /** Global optimizer step; 0 when not training (oneshot). */
  readonly globalStep?: number;
  /** Global batch index. */
  readonly globalBatch?: number;
}

export interface EventInit {
  type: EventType;
  stepsPerEpoch?: number;
  batchesPerStep?: number;
  invocationsPerStep?: number;
  globalStep?: number;
  globalBatch?: number;
}

/** An event with its step information; `currentIndex` is what `start`/`end`/`update` windows compare against. */
export class Event {
  type: EventType;
  stepsPerEpoch: number | undefined;
  batchesPerStep: number | undefined;
  /** Step-wrapper invocations per optimizer step (gradient accumulation). */
  invocationsPerStep: number;
  globalStep: number;
  globalBatch: number;

  constructor(init: EventInit) {
    this.type = init.type;
    this.stepsPerEpoch = init.stepsPerEpoch;
    this.batchesPerStep = init.batchesPerStep;
    this.invocationsPerStep = init.invocationsPerStep ?? 1;
    this.globalStep = init.globalStep ?? 0;
    this.globalBatch = init.globalBatch ?? 0;
  }

  get epochBased(): boolean {
    return this.stepsPerEpoch !== undefined;
  }

  private requireEpochs(what: string): number {
    if (this.stepsPerEpoch === undefined) throw new Error(`Event is not epoch based (asked for ${what})`);
    return this.stepsPerEpoch;
  }

  get epoch(): number {
    return Math.floor(this.globalStep / this.requireEpochs('epoch'));
  }

  get epochFull(): number {
    return this.globalStep / this.requireEpochs('epochFull');
  }

  get epochStep(): number {
    return this.globalStep % this.requireEpochs('epochStep');
  }

  get epochBatch(): number {
    const spe = this.requireEpochs('epochBatch');
    const batchesPerEpoch = this.batchesPerStep ? spe * this.batchesPerStep : spe;
    return this.globalBatch % batchesPerEpoch;
  }

  /** The global step, or the fractional epoch for epoch-based events. */
  get currentIndex(): number {
    if (!this.epochBased) return this.globalStep;
    const full = this.epochFull;
    if (full - this.epoch > 1.0) throw new Error('Too many steps per epoch for epoch based event');
    return full;
  }

  set currentIndex(value: number) {
    this.globalStep = this.epochBased ? Math.trunc(value * this.stepsPerEpoch!) : Math.trunc(value);
    this.globalBatch = this.batchesPerStep === undefined || this.batchesPerStep < 2 ? this.globalStep : this.globalStep * this.batchesPerStep;
  }

  /** Whether `currentIndex` lies in [start, end] and on an `update` interval (unset bounds are open; update ≤ 0 means every step). */
  shouldUpdate(start: number | null | undefined, end: number | null | undefined, update: number | null | undefined): boolean {
    const current = this.currentIndex;
    if (start != null && current < start) return false;
    if (end != null && current > end) return false;
    return update == null || update <= 0 || current % update < 1e-10;
  }

  /** A copy with some fields replaced. */
  newInstance(changes: Partial<EventInit> = {}): Event {
    return new Event({
      type: this.type,
      stepsPerEpoch: this.stepsPerEpoch,
      batchesPerStep: this.batchesPerStep,
      invocationsPerStep: this.invocationsPerStep,
      globalStep: this.globalStep,
      globalBatch: this.globalBatch,
      ...changes,
    });
  }
}
