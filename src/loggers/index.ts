export * from './types.js';
export { ConsoleLogger, type ConsoleLoggerOptions } from './console.js';
export { JsonLinesLogger, type JsonLinesLoggerOptions } from './jsonl.js';
export { LoggerManager, type LayerMetrics } from './manager.js';
