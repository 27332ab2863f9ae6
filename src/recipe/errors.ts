/** Where in a recipe's source text a value sits (1-based line and column). */
export interface SourceLocation {
  /** File the recipe came from, when it came from one. */
  readonly source?: string;
  readonly line: number;
  readonly col: number;
}

/**
 * A recipe the engine cannot run: invalid YAML, an unknown modifier or field,
 * a value of the wrong type or out of range, or fields that contradict each
 * other. `message` is `<path>: <detail>`, where the path names the value as
 * it is written in the recipe (`quant_stage.quant_modifiers.GPTQModifier.block_size`).
 */
export class RecipeError extends Error {
  override name = 'RecipeError';
  constructor(
    /** Dotted path of the offending value; empty for whole-recipe problems. */
    readonly path: string,
    /** What is wrong, without the path. */
    readonly detail: string,
    /** Position in the source text, when the recipe was parsed from text. */
    readonly location?: SourceLocation,
  ) {
    super(path ? `${path}: ${detail}` : detail);
  }

  /** `file:line:col: message` (or as much of that prefix as is known), for command-line output. */
  format(): string {
    const loc = this.location;
    if (!loc) return this.message;
    const prefix = loc.source ? `${loc.source}:${loc.line}:${loc.col}` : `line ${loc.line}, column ${loc.col}`;
    return `${prefix}: ${this.message}`;
  }
}

/**
 * Raised by modifiers whose algorithm this engine does not run yet: the recipe
 * validates, but the compression step cannot happen.
 */
export class NotImplementedError extends Error {
  override name = 'NotImplementedError';
}
