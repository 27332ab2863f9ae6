/**
 * Recipe input that may be a file path: `.yaml`/`.yml`/`.json`, or `.md` with
 * YAML front matter (llm-compressor `Recipe.create_instance`).
 */
import { RecipeError } from './errors.js';
import { Recipe, type RecipeInput, type RecipeOptions } from './recipe.js';

export interface LoadRecipeOptions extends RecipeOptions {
  /** Reads a file as UTF-8 text; defaults to Node's `fs` (absent in browsers: pass a reader or the text itself). */
  readText?: (path: string) => Promise<string>;
}

const RECIPE_FILE = /\.(ya?ml|json|md)$/i;

/** Front matter between `---` (or `+++`) delimiters, as llm-compressor's recipe cards have. */
function frontMatter(text: string, path: string): string {
  const m = /^\s*(?:---|\+\+\+)([\s\S]*?)(?:---|\+\+\+)/m.exec(text);
  if (!m) throw new RecipeError('', `Could not extract YAML front matter from recipe card: ${path}`);
  return m[1];
}

async function nodeReadText(path: string): Promise<string | undefined> {
  const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';
  if (!isNode) return undefined;
  const fs = await import('node:fs/promises');
  try {
    return await fs.readFile(path, 'utf8');
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return undefined;
    throw new RecipeError('', `cannot read recipe file ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** Whether a string is meant as a path rather than recipe text. */
function looksLikePath(s: string): boolean {
  return !s.includes('\n') && !/^\s*[{[]/.test(s) && !/:\s/.test(s);
}

/**
 * `Recipe.create`, plus file paths: a single-line string that names an
 * existing file (or ends in a recipe extension) is read; anything else is
 * recipe text.
 */
export async function loadRecipe(input: RecipeInput, options: LoadRecipeOptions = {}): Promise<Recipe> {
  if (typeof input !== 'string' || !looksLikePath(input)) return Recipe.create(input, options);
  const text = options.readText ? await options.readText(input) : await nodeReadText(input);
  if (text === undefined) {
    if (RECIPE_FILE.test(input)) throw new RecipeError('', `recipe file not found: ${input}`);
    return Recipe.create(input, options);
  }
  return recipeFromFileText(input, text, options);
}

/** Parses the text of recipe file `path` (front matter only, for `.md` recipe cards). */
export function recipeFromFileText(path: string, text: string, options: RecipeOptions = {}): Recipe {
  const body = /\.md$/i.test(path) ? frontMatter(text, path) : text;
  return Recipe.fromText(body, { ...options, source: options.source ?? path });
}
