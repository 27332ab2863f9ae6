import { LOG_LEVELS, type LogLevel, type LogRecord, type Logger } from './types.js';

export interface ConsoleLoggerOptions {
  /** Messages below this level are dropped; metric and layer records print at `info`. Default `info`. */
  level?: LogLevel;
  /** Where lines go; default `console.error` (stdout stays free for command output). */
  write?: (line: string) => void;
}

function scope(r: { modifier?: string; layer?: string }): string {
  if (r.modifier && r.layer) return `[${r.modifier} ${r.layer}] `;
  if (r.modifier) return `[${r.modifier}] `;
  if (r.layer) return `[${r.layer}] `;
  return '';
}

function num(v: number): string {
  if (v === 0 || (Math.abs(v) >= 1e-3 && Math.abs(v) < 1e6)) return String(Number(v.toPrecision(4)));
  return v.toExponential(3);
}

function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

/** Human progress for a terminal or CI log: one line per record. */
export class ConsoleLogger implements Logger {
  private readonly min: number;
  private readonly out: (line: string) => void;

  constructor(options: ConsoleLoggerOptions = {}) {
    this.min = LOG_LEVELS.indexOf(options.level ?? 'info');
    this.out = options.write ?? ((line) => console.error(line));
  }

  write(r: LogRecord): void {
    const level = r.type === 'message' ? r.level : 'info';
    if (LOG_LEVELS.indexOf(level) < this.min) return;
    switch (r.type) {
      case 'message':
        this.out(`${r.level === 'info' ? '' : `${r.level.toUpperCase()}: `}${scope(r)}${r.message}`);
        break;
      case 'metric':
        this.out(`${scope(r)}${r.name} = ${num(r.value)}${r.unit ? ' ' + r.unit : ''}${r.step !== undefined ? ` (step ${r.step})` : ''}`);
        break;
      case 'layer': {
        const parts: string[] = [];
        if (r.seconds !== undefined) parts.push(`${r.seconds.toFixed(3)} s`);
        if (r.error !== undefined) parts.push(`error ${num(r.error)}`);
        if (r.memoryBytes !== undefined) parts.push(`gpu ${bytes(r.memoryBytes)}`);
        for (const [k, v] of Object.entries(r.extra ?? {})) parts.push(`${k} ${num(v)}`);
        this.out(`${scope(r)}${parts.join(', ')}`);
        break;
      }
      case 'progress':
        this.out(`${scope(r)}${r.label} ${r.done}/${r.total}`);
        break;
    }
  }
}
