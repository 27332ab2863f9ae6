import { parseArgs } from 'node:util';
import { RecipeError } from '../../recipe/errors.js';
import { readFile } from 'node:fs/promises';
import { recipeFromFileText } from '../../recipe/load.js';
import { describeRecipe, type RecipeDescription } from '../../recipe/describe.js';
import { toYamlText } from '../../recipe/yamlText.js';

export const summary = 'check a recipe and show every modifier with its fields resolved';

const USAGE = `usage: wgc recipe check FILE [--json] [--stage NAME]

Validates a recipe (YAML or JSON, llm-compressor's format) without loading a
model, and prints its stages and modifiers with every field resolved
(defaults filled in), what quantization schemes resolve to, and the pipeline
oneshot would pick. Exit code 0 when valid, 2 with the error when not.

  --json        print the result as JSON
  --stage NAME  only stages whose key starts with NAME`;

function indent(text: string, by: string): string {
  return text
    .trimEnd()
    .split('\n')
    .map((l) => by + l)
    .join('\n');
}

function printText(file: string, d: RecipeDescription): void {
  const stageCount = d.stages.length;
  console.log(`${file}: valid recipe, ${stageCount} stage${stageCount === 1 ? '' : 's'}, ${d.modifierCount} modifier${d.modifierCount === 1 ? '' : 's'}`);
  console.log(`pipeline: ${d.pipeline.inferred} (${d.pipeline.reason})`);
  if (Object.keys(d.args).length) console.log(`args:\n${indent(toYamlText(d.args), '  ')}`);
  for (const s of d.stages) {
    console.log(`\n${s.name}_stage`);
    for (const m of s.modifiers) {
      console.log(`  ${m.group ?? s.name}_modifiers.${m.type}${m.requiresCalibrationData ? '  [needs calibration data]' : '  [data-free]'}`);
      const shown: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(m.fields)) shown[k] = k in m.deferredDefaults ? `<${m.deferredDefaults[k]}>` : v;
      console.log(indent(toYamlText(shown), '    '));
      if (m.resolved) console.log(`    resolves to:\n${indent(toYamlText(m.resolved), '      ')}`);
      for (const w of m.warnings) console.log(`    warning: ${w}`);
    }
  }
}

/** `wgc recipe check FILE [--json] [--stage NAME]` */
export async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { json: { type: 'boolean' }, stage: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (e) {
    console.error(`wgc recipe: ${e instanceof Error ? e.message : String(e)}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const [sub, file, ...extra] = positionals;
  if (sub !== 'check' || !file || extra.length) {
    console.error(`wgc recipe: ${sub && sub !== 'check' ? `unknown subcommand "${sub}"` : !file ? 'missing FILE' : `unexpected argument "${extra[0]}"`}\n\n${USAGE}`);
    return 2;
  }
  try {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      throw new RecipeError('', `cannot read recipe file: ${(e as { code?: string }).code === 'ENOENT' ? 'no such file' : e instanceof Error ? e.message : String(e)}`);
    }
    const recipe = recipeFromFileText(file, text, { stage: values.stage, source: file });
    const d = describeRecipe(recipe);
    if (values.json) console.log(JSON.stringify({ valid: true, file, ...d }, null, 2));
    else printText(file, d);
    return 0;
  } catch (e) {
    if (!(e instanceof RecipeError)) throw e;
    if (values.json) {
      console.log(JSON.stringify({ valid: false, file, error: { message: e.message, path: e.path, detail: e.detail, line: e.location?.line, col: e.location?.col } }, null, 2));
    }
    console.error(`wgc recipe check: ${e.location ? e.format() : `${file}: ${e.message}`}`);
    return 2;
  }
}
