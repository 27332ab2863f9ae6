import { LOG_LEVELS, type LogLevel, type LogRecord, type Logger } from './types.js';

export interface JsonLinesLoggerOptions {
  /** Messages below this level are dropped (other records are always written). Default `debug`. */
  level?: LogLevel;
  /** Called when the logger is closed (a file sink closes its file). */
  close?: () => void | Promise<void>;
}

/**
 * Machine-readable records, one JSON object per line: `{"type":"layer",
 * "time":…,"modifier":"GPTQModifier","layer":"model.layers.0.mlp.down_proj",
 * "seconds":…,"error":…,"memoryBytes":…}`. The sink receives each line
 * without its newline.
 */
export class JsonLinesLogger implements Logger {
  private readonly min: number;

  constructor(
    private readonly sink: (line: string) => void,
    private readonly options: JsonLinesLoggerOptions = {},
  ) {
    this.min = LOG_LEVELS.indexOf(options.level ?? 'debug');
  }

  write(r: LogRecord): void {
    if (r.type === 'message' && LOG_LEVELS.indexOf(r.level) < this.min) return;
    this.sink(JSON.stringify(r));
  }

  async close(): Promise<void> {
    await this.options.close?.();
  }
}
