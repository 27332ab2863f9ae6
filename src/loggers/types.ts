/** Severity of a log message, lowest first. */
export type LogLevel = 'debug' | 'info' | 'warning' | 'error';

export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warning', 'error'];

/** Which modifier and module a record is about, when it is about one. */
export interface LogScope {
  /** Modifier class name, e.g. `GPTQModifier`. */
  readonly modifier?: string;
  /** Module name, e.g. `model.layers.3.self_attn.q_proj`. */
  readonly layer?: string;
}

/** A human-readable message. */
export interface MessageRecord extends LogScope {
  readonly type: 'message';
  /** Milliseconds since the Unix epoch. */
  readonly time: number;
  readonly level: LogLevel;
  readonly message: string;
}

/** One named number (a loss, a sparsity, a throughput). */
export interface MetricRecord extends LogScope {
  readonly type: 'metric';
  readonly time: number;
  readonly name: string;
  readonly value: number;
  readonly unit?: string;
  readonly step?: number;
}

/** What compressing one module cost and how well it went. */
export interface LayerRecord extends LogScope {
  readonly type: 'layer';
  readonly time: number;
  readonly modifier: string;
  readonly layer: string;
  /** Wall-clock seconds spent on this module. */
  readonly seconds?: number;
  /** The modifier's error measure (GPTQ: the weighted reconstruction loss; RTN: ‖W−Q(W)‖/‖W‖). */
  readonly error?: number;
  /** GPU bytes held by the engine's buffer pool after the module was processed. */
  readonly memoryBytes?: number;
  /** Further numbers the modifier reports. */
  readonly extra?: Readonly<Record<string, number>>;
}

/** Progress through a sequence of steps (layers, tensors). */
export interface ProgressRecord extends LogScope {
  readonly type: 'progress';
  readonly time: number;
  readonly label: string;
  readonly done: number;
  readonly total: number;
}

export type LogRecord = MessageRecord | MetricRecord | LayerRecord | ProgressRecord;

/** A destination for log records. */
export interface Logger {
  write(record: LogRecord): void;
  /** Flushes and releases what the logger holds (files). */
  close?(): void | Promise<void>;
}
