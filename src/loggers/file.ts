/** Node-only: a JSON-lines logger writing to a file. */
import { closeSync, openSync, writeSync } from 'node:fs';
import { JsonLinesLogger, type JsonLinesLoggerOptions } from './jsonl.js';

/**
 * Appends records to `path` (created if missing). Each line is written
 * synchronously so a crash loses nothing already logged.
 */
export function createJsonLinesFileLogger(path: string, options: Omit<JsonLinesLoggerOptions, 'close'> = {}): JsonLinesLogger {
  const fd = openSync(path, 'a');
  let open = true;
  return new JsonLinesLogger((line) => {
    if (open) writeSync(fd, line + '\n');
  }, {
    ...options,
    close: () => {
      if (open) closeSync(fd);
      open = false;
    },
  });
}
