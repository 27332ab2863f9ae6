/**
 * The one error type of the checkpoint layer. Every bad input (a truncated
 * file, a malformed header, a missing shard, an unparsable config.json, an
 * inconsistent quantized layer) surfaces as a `CheckpointError` whose message
 * names the file and, where it applies, the tensor or field, so a user knows
 * what to fix without a stack trace.
 */
export class CheckpointError extends Error {
  override name = 'CheckpointError';
  /** File (path, `File.name` or in-memory label) the problem was found in. */
  readonly file: string;
  /** Tensor name, when the problem concerns one tensor. */
  readonly tensor?: string;
  /** JSON field or key path, when the problem concerns one field. */
  readonly field?: string;

  constructor(file: string, detail: string, where: { tensor?: string; field?: string; cause?: unknown } = {}) {
    const parts = [file];
    if (where.tensor !== undefined) parts.push(`tensor "${clip(where.tensor)}"`);
    if (where.field !== undefined) parts.push(`field "${clip(where.field)}"`);
    super(`${parts.join(': ')}: ${detail}`, where.cause === undefined ? undefined : { cause: where.cause });
    this.file = file;
    this.tensor = where.tensor;
    this.field = where.field;
  }
}

/** Cuts a name taken from a (possibly hostile) file so messages stay readable. */
function clip(s: string, max = 200): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** Short description of an unknown thrown value for wrapping into a CheckpointError. */
export function describeError(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
