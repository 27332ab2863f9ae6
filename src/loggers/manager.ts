import type { Hardware } from '../gpu/hardware.js';
import { ConsoleLogger, type ConsoleLoggerOptions } from './console.js';
import type { LayerRecord, LogLevel, LogRecord, LogScope, Logger } from './types.js';

/** Numbers a modifier reports for one module (see {@link LoggerManager.layer}). */
export interface LayerMetrics {
  readonly modifier: string;
  readonly layer: string;
  readonly seconds?: number;
  readonly error?: number;
  readonly memoryBytes?: number;
  readonly extra?: Readonly<Record<string, number>>;
}

/**
 * Fans records out to every attached logger (`State.loggers`). Modifiers
 * and pipelines report through it; what reaches the terminal or a JSON-lines
 * file is the loggers' business.
 */
export class LoggerManager {
  private readonly loggers: Logger[];

  constructor(loggers: Iterable<Logger> = []) {
    this.loggers = [...loggers];
  }

  /** A manager with one console logger. */
  static console(options: ConsoleLoggerOptions = {}): LoggerManager {
    return new LoggerManager([new ConsoleLogger(options)]);
  }

  /** A manager that drops everything. */
  static silent(): LoggerManager {
    return new LoggerManager();
  }

  add(logger: Logger): this {
    this.loggers.push(logger);
    return this;
  }

  get attached(): readonly Logger[] {
    return this.loggers;
  }

  /** Sends a ready-made record to every logger. */
  write(record: LogRecord): void {
    for (const l of this.loggers) l.write(record);
  }

  log(level: LogLevel, message: string, scope: LogScope = {}): void {
    this.write({ type: 'message', time: Date.now(), level, message, ...scope });
  }

  debug(message: string, scope?: LogScope): void {
    this.log('debug', message, scope);
  }

  info(message: string, scope?: LogScope): void {
    this.log('info', message, scope);
  }

  warning(message: string, scope?: LogScope): void {
    this.log('warning', message, scope);
  }

  error(message: string, scope?: LogScope): void {
    this.log('error', message, scope);
  }

  metric(name: string, value: number, scope: LogScope & { unit?: string; step?: number } = {}): void {
    this.write({ type: 'metric', time: Date.now(), name, value, ...scope });
  }

  /** Per-module time, error and memory. */
  layer(metrics: LayerMetrics): void {
    const rec: LayerRecord = { type: 'layer', time: Date.now(), ...metrics };
    this.write(rec);
  }

  progress(label: string, done: number, total: number, scope: LogScope = {}): void {
    this.write({ type: 'progress', time: Date.now(), label, done, total, ...scope });
  }

  /**
   * Runs `work` for one module and logs a layer record with its wall time,
   * the error it returns, and (given `hardware`) the bytes the buffer pool
   * holds when the work is done. The GPU is synchronised before the clock
   * stops so the time includes the module's kernels. The pool's peak counter
   * is left alone: whole-run peaks measured elsewhere stay valid.
   */
  async timed<T extends { error?: number; extra?: Record<string, number> } | void>(
    scope: { modifier: string; layer: string; hardware?: Hardware },
    work: () => Promise<T>,
  ): Promise<T> {
    const hw = scope.hardware;
    const t0 = performance.now();
    const result = await work();
    if (hw) await hw.sync();
    const seconds = (performance.now() - t0) / 1000;
    const r = (result ?? {}) as { error?: number; extra?: Record<string, number> };
    this.layer({
      modifier: scope.modifier,
      layer: scope.layer,
      seconds,
      error: r.error,
      memoryBytes: hw ? hw.pool.stats().liveBytes : undefined,
      extra: r.extra,
    });
    return result;
  }

  async close(): Promise<void> {
    for (const l of this.loggers) await l.close?.();
  }
}
