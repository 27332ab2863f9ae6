/**
 * Calibration pipelines (llm-compressor `pipelines/`, reference §5): how the
 * model is run over calibration data, and when modifiers are told that a
 * unit is calibrated. A pipeline fires CALIBRATION_START, one
 * SEQUENTIAL_EPOCH_END per subgraph, then CALIBRATION_END, through
 * `context.session.callbacks`.
 */
import type { CompressionSession } from '../core/session.js';
import type { Model } from '../core/model.js';
import type { Hardware } from '../gpu/hardware.js';
import type { LoggerManager } from '../loggers/manager.js';
import type { Modifier } from '../modifiers/modifier.js';

/** Calibration settings from `oneshot` (llm-compressor's DatasetArguments). */
export interface CalibrationOptions {
  /** Samples drawn from the dataset (llm-compressor default 512). */
  readonly numCalibrationSamples: number;
  /** Tokens per sample; undefined lets the dataset code decide. */
  readonly maxSeqLength?: number;
  /** Units calibrated one at a time: class names, names or `re:` patterns. Default: the model's `defaultSequentialTargets`. */
  readonly sequentialTargets?: readonly string[];
  /** Seed for sample selection. */
  readonly seed: number;
}

/** Everything a pipeline run gets. */
export interface PipelineContext {
  /** The session to fire events on (not necessarily the active one). */
  readonly session: CompressionSession;
  readonly model: Model;
  readonly hardware: Hardware;
  /** The recipe's modifiers, already initialized. */
  readonly modifiers: readonly Modifier[];
  /** Calibration data as the caller gave it (a path or loaded data); undefined for data-free runs. */
  readonly dataset: unknown;
  readonly options: CalibrationOptions;
  readonly loggers: LoggerManager;
  /** Aborts a long run between units. */
  readonly signal?: AbortSignal;
}

/** A registered calibration pipeline. */
export interface CalibrationPipeline {
  /** Registry name (`datafree`, `sequential`, `basic`, `layer_sequential`). */
  readonly name: string;
  /** One line for help texts. */
  readonly description: string;
  /** Whether the pipeline runs forwards over `dataset` (and so needs one). */
  readonly needsData: boolean;
  run(context: PipelineContext): Promise<void>;
}
