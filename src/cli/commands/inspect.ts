import { parseArgs } from 'node:util';
import { stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { CheckpointError } from '../../io/errors.js';
import { type InspectReport, formatInspectReport, inspectFolder, inspectSafetensorsFile } from '../../io/inspect.js';
import { FileSource } from '../../io/node/fileSource.js';
import { openNodeFolder } from '../../io/node/folder.js';

export const summary = 'list a checkpoint\'s tensors, totals and quantization config, and validate it';

const USAGE = `usage: wgc inspect <folder-or-file> [--json]

Lists every tensor (name, dtype, shape, bytes), totals per dtype, the model
config, the compressed-tensors quantization config (schemes, formats, bits per
weight) and every validation problem a loader would trip over.

  <folder-or-file>  a Hugging Face model folder, a .safetensors file, or a
                    model.safetensors.index.json (inspects its folder)
  --json            print the report as JSON

exit status: 0 no problems, 1 problems listed, 2 usage error or unreadable input`;

/** `wgc inspect <folder-or-file> [--json]` */
export async function run(argv: string[]): Promise<number> {
  let values: { json?: boolean; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } }));
  } catch (e) {
    console.error(`wgc inspect: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length !== 1) {
    console.error(`wgc inspect: expected one folder or file, got ${positionals.length}\n\n${USAGE}`);
    return 2;
  }
  let target = positionals[0];
  let report: InspectReport;
  try {
    if (basename(target) === 'model.safetensors.index.json') target = dirname(target);
    let isDir: boolean;
    try {
      isDir = (await stat(target)).isDirectory();
    } catch (e) {
      throw new CheckpointError(target, `cannot open: ${(e as Error).message}`);
    }
    if (isDir) report = await inspectFolder(await openNodeFolder(target));
    else {
      const src = await FileSource.open(target);
      try {
        report = await inspectSafetensorsFile(src);
      } finally {
        await src.close();
      }
    }
  } catch (e) {
    if (e instanceof CheckpointError) {
      if (values.json) console.log(JSON.stringify({ path: target, error: e.message }, null, 2));
      else console.error(`wgc inspect: ${e.message}`);
      return 2;
    }
    throw e;
  }
  console.log(values.json ? JSON.stringify(report, null, 2) : formatInspectReport(report));
  return report.problems.length === 0 ? 0 : 1;
}
