/**
 * The compression page: wires the DOM to the browser adapter (./compress.ts),
 * which runs the core's data-free path on the visitor's GPU.
 */
import { type FolderSource, type Hardware, openModelFolder } from '../../src/index.js';
import { PRESET_NAMES, presetScheme } from '../../src/quantization/presets.js';
import { schemeNeedsCalibration } from '../../src/quantization/args.js';
import type { ModelFreeProgress } from '../../src/quantization/modelFree.js';
import { compress, preflight, type CompressOutcome, type PageRecipe } from './compress.js';
import { detectWebGPU } from './gpu.js';
import { errorBarChart } from './chart.js';
import { download, folderFromFileList, hasDirectoryPicker, pickModelFolder, saveToPickedFolder, zipCheckpoint } from './files.js';
import { perplexityOf, tokenWindows } from './evaluate.js';

type PageState = 'loading' | 'no-webgpu' | 'ready' | 'running' | 'refused' | 'error' | 'done' | 'evaluating';

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const e = document.getElementById(id);
  if (!e) throw new Error(`page element #${id} is missing`);
  return e as T;
};

const DEFAULT_RECIPE = `# A data-free recipe: one QuantizationModifier.
quant_stage:
  quant_modifiers:
    QuantizationModifier:
      ignore: [lm_head]
      config_groups:
        group_0:
          targets: [Linear]
          weights: {num_bits: 4, type: int, symmetric: true, strategy: channel}
`;

let hw: Hardware | undefined;
let model: FolderSource | undefined;
let last: CompressOutcome | undefined;
let abort: AbortController | undefined;
const t0 = performance.now();

function setState(s: PageState, status = ''): void {
  document.body.dataset.state = s;
  $('status').textContent = status;
  const busy = s === 'running' || s === 'evaluating' || s === 'loading';
  $<HTMLButtonElement>('compress').disabled = busy || !hw || !model;
  $<HTMLButtonElement>('pick-folder').disabled = busy;
  $<HTMLInputElement>('folder-input').disabled = busy;
  $('cancel').hidden = s !== 'running';
  updateEvaluateButton();
}

function log(msg: string): void {
  const pre = $('log');
  const secs = ((performance.now() - t0) / 1000).toFixed(2).padStart(7);
  pre.textContent += `${secs}s  ${msg}\n`;
  pre.scrollTop = pre.scrollHeight;
}

function mb(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(2)} GB` : bytes >= 1e6 ? `${(bytes / 1e6).toFixed(2)} MB` : `${(bytes / 1e3).toFixed(1)} kB`;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function row(table: HTMLElement, cells: readonly (string | Node)[], header = false): HTMLTableRowElement {
  const tr = document.createElement('tr');
  cells.forEach((c, i) => {
    const td = document.createElement(header || (i === 0 && cells.length === 2) ? 'th' : 'td');
    td.append(c);
    tr.append(td);
  });
  table.append(tr);
  return tr;
}

// ---- GPU -------------------------------------------------------------------

async function initGpu(): Promise<void> {
  const box = $('gpu-status');
  const status = await detectWebGPU();
  box.textContent = '';
  if (!status.ok) {
    box.className = 'problem';
    const p = document.createElement('p');
    p.id = 'no-webgpu';
    p.textContent = status.reason;
    const ul = document.createElement('ul');
    for (const h of status.help) {
      const li = document.createElement('li');
      li.textContent = h;
      ul.append(li);
    }
    box.append(p, 'How to enable WebGPU:', ul);
    setState('no-webgpu', 'WebGPU is required.');
    return;
  }
  hw = status.hw;
  const i = hw.info;
  const t = document.createElement('table');
  t.id = 'adapter';
  row(t, ['adapter', [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' · ') + (i.isFallbackAdapter ? ' (software fallback adapter: slow)' : '')]);
  row(t, ['features', `shader-f16 ${hw.caps.f16 ? 'yes' : 'no (f32 kernels)'} · subgroups ${hw.caps.subgroups ? `yes (size ${i.subgroupMinSize ?? '?'}–${i.subgroupMaxSize ?? '?'})` : 'no'}`]);
  row(t, ['limits', `storage binding ${mb(hw.caps.maxStorageBufferBindingSize)} · buffer ${mb(hw.caps.maxBufferSize)} · ${hw.caps.maxComputeInvocationsPerWorkgroup} invocations per workgroup`]);
  box.append(t);
  hw.device.lost.then((l) => {
    if (hw?.isDestroyed) return;
    log(`GPU device lost: ${l.reason} ${l.message}. Reload the page to start again.`);
    hw = undefined;
    setState('error', 'GPU device lost.');
  });
  setState('ready');
}

// ---- model folder ------------------------------------------------------------

async function useFolder(source: FolderSource): Promise<void> {
  model = source;
  last = undefined;
  $('summary').hidden = true;
  const info = $('model-info');
  info.textContent = `Reading ${source.name}…`;
  try {
    const m = await openModelFolder(source);
    try {
      const bytes = m.weights.tensors.reduce((n, t) => n + t.byteLength, 0);
      const dtypes = [...new Set(m.weights.tensors.map((t) => t.dtype))].join(', ');
      const arch = (m.config.raw.architectures as string[] | undefined)?.join(', ') ?? m.config.raw.model_type ?? 'unknown architecture';
      info.className = '';
      info.textContent = `${source.name}: ${arch}, ${m.weights.tensors.length} tensors (${dtypes}), ${mb(bytes)}; ${(await source.list()).length} files.`;
      log(`model ${source.name}: ${m.weights.tensors.length} tensors, ${mb(bytes)}`);
    } finally {
      await m.close();
    }
  } catch (e) {
    info.className = 'problem';
    info.textContent = errorText(e);
    log(`model folder: ${errorText(e)}`);
  }
  setState(hw ? 'ready' : (document.body.dataset.state as PageState));
}

function initFolderInputs(): void {
  const pick = $<HTMLButtonElement>('pick-folder');
  const input = $<HTMLInputElement>('folder-input');
  pick.addEventListener('click', async () => {
    if (!hasDirectoryPicker()) {
      input.click();
      return;
    }
    try {
      await useFolder(await pickModelFolder());
    } catch (e) {
      if ((e as { name?: string }).name !== 'AbortError') log(`folder picker: ${errorText(e)}`);
    }
  });
  input.addEventListener('change', () => {
    if (input.files && input.files.length) void useFolder(folderFromFileList(input.files));
  });
}

// ---- recipe ------------------------------------------------------------------

function initRecipe(): void {
  const select = $<HTMLSelectElement>('scheme');
  for (const name of PRESET_NAMES) {
    if (name === 'UNQUANTIZED') continue;
    const opt = document.createElement('option');
    opt.value = name;
    const why = schemeNeedsCalibration(presetScheme(name));
    opt.textContent = why ? `${name} (needs calibration — not in the page)` : name;
    opt.disabled = Boolean(why);
    select.append(opt);
  }
  select.value = 'W4A16';
  const describe = (): void => {
    const s = presetScheme(select.value);
    const w = s.weights!;
    const a = s.inputActivations;
    $('scheme-info').textContent =
      `weights: ${w.numBits}-bit ${w.type}, ${w.strategy}${w.groupSize && w.groupSize > 0 ? ` ${w.groupSize}` : ''}, ${w.symmetric ? 'symmetric' : 'asymmetric'}` +
      (a ? `; activations: ${a.numBits}-bit ${a.type} per ${a.strategy}, dynamic (computed at inference)` : '; activations stay 16-bit');
  };
  select.addEventListener('change', describe);
  describe();
  $<HTMLTextAreaElement>('recipe-yaml').value = DEFAULT_RECIPE;
  for (const r of document.querySelectorAll<HTMLInputElement>('input[name="recipe-kind"]')) {
    r.addEventListener('change', () => {
      const yaml = recipeKind() === 'yaml';
      $('yaml-fields').hidden = !yaml;
      $('preset-fields').hidden = yaml;
    });
  }
}

function recipeKind(): 'preset' | 'yaml' {
  return document.querySelector<HTMLInputElement>('input[name="recipe-kind"]:checked')?.value === 'yaml' ? 'yaml' : 'preset';
}

function list(v: string): string[] {
  return v.split(',').map((s) => s.trim()).filter(Boolean);
}

function currentRecipe(): { recipe: PageRecipe; label: string } {
  if (recipeKind() === 'yaml') return { recipe: { recipeText: $<HTMLTextAreaElement>('recipe-yaml').value }, label: 'recipe' };
  const scheme = $<HTMLSelectElement>('scheme').value;
  return { recipe: { scheme, targets: list($<HTMLInputElement>('targets').value), ignore: list($<HTMLInputElement>('ignore').value) }, label: scheme };
}

// ---- compress ----------------------------------------------------------------

/** One progress bar per decoder layer (weights outside the layers share one). */
function layerBars(tensors: readonly string[]): (tensor: string) => void {
  const box = $('layer-bars');
  box.textContent = '';
  const groups = new Map<string, { total: number; done: number; bar: HTMLProgressElement; text: HTMLSpanElement }>();
  const keyOf = (t: string): string => /\.layers\.(\d+)\./.exec(t)?.[0].replace(/^\.|\.$/g, '') ?? 'other';
  for (const t of tensors) {
    const k = keyOf(t);
    let g = groups.get(k);
    if (!g) {
      const line = document.createElement('div');
      line.className = 'layer';
      line.dataset.layer = k;
      const label = document.createElement('span');
      label.className = 'layer-name';
      label.textContent = k;
      const bar = document.createElement('progress');
      const text = document.createElement('span');
      text.className = 'muted';
      line.append(label, bar, text);
      box.append(line);
      g = { total: 0, done: 0, bar, text };
      groups.set(k, g);
    }
    g.total++;
  }
  for (const g of groups.values()) {
    g.bar.max = g.total;
    g.bar.value = 0;
    g.text.textContent = `0/${g.total}`;
  }
  return (tensor) => {
    const g = groups.get(keyOf(tensor));
    if (!g) return;
    g.done++;
    g.bar.value = g.done;
    g.text.textContent = `${g.done}/${g.total}${g.done === g.total ? ' ✓' : ''}`;
  };
}

function outputName(source: FolderSource, label: string): string {
  const base = source.name.replace(/[^A-Za-z0-9._-]+/g, '_') || 'model';
  return `${base}-${label.replace(/[^A-Za-z0-9._-]+/g, '_')}`;
}

async function onCompress(): Promise<void> {
  if (!hw || !model) return;
  const source = model;
  last = undefined;
  $('summary').hidden = true;
  $('refusal').hidden = true;
  $('progress').hidden = true;
  let q: { recipe: PageRecipe; label: string };
  setState('running', 'Checking the model against the recipe and this device…');
  try {
    q = currentRecipe();
    log(`compress ${source.name} with ${q.label === 'recipe' ? 'the YAML recipe' : q.label}`);
    const deviceMemoryGiB = (navigator as { deviceMemory?: number }).deviceMemory;
    const pre = await preflight(source, q.recipe, { device: hw.caps, canSaveToFolder: hasDirectoryPicker(), deviceMemoryGiB });
    const { plan, limits } = pre;
    log(`plan: quantize ${plan.quantize.length} weights, leave ${plan.skipped.length} 2-D weights dense, copy ${plan.copied} tensors; estimated output ${mb(limits.estimatedOutputBytes)}`);
    if (limits.largest) log(`largest weight ${limits.largest.tensor}: about ${mb(limits.largest.workingSetBytes)} of GPU memory while it is quantized`);
    if (limits.problems.length) {
      await pre.model.close();
      refuse(limits.problems);
      return;
    }
    const mark = layerBars(plan.quantize.map((p) => p.tensor));
    $('progress').hidden = false;
    const overall = $<HTMLProgressElement>('progress-overall');
    overall.max = plan.quantize.length;
    overall.value = 0;
    $('progress-text').textContent = `0/${plan.quantize.length}`;
    abort = new AbortController();
    setState('running', 'Compressing…');
    const onProgress = (p: ModelFreeProgress): void => {
      overall.value = p.index;
      $('progress-text').textContent = `${p.index}/${p.total} ${p.tensor}`;
      mark(p.tensor);
      log(`[${p.index}/${p.total}] ${p.tensor} [${p.shape.join(', ')}]`);
    };
    last = await compress(hw, pre, outputName(source, q.label), { onProgress, signal: abort.signal });
    showSummary(last);
    log(`done in ${last.summary.seconds.toFixed(2)} s: ${mb(last.summary.bytesBefore)} → ${mb(last.summary.bytesAfter)}, ${last.summary.bitsPerWeight.toFixed(3)} bits per weight`);
    setState('done', 'Done. Save the files below.');
  } catch (e) {
    const msg = errorText(e);
    log(`error: ${msg}`);
    // Problems found before the GPU started (recipe, folder, a shape the scheme cannot take) are refusals.
    if ($('progress').hidden) refuse([msg]);
    else setState('error', `Failed: ${msg}`);
  } finally {
    abort = undefined;
  }
}

function refuse(problems: readonly string[]): void {
  const box = $('refusal');
  box.textContent = 'Refused before starting:';
  const ul = document.createElement('ul');
  for (const p of problems) {
    const li = document.createElement('li');
    li.textContent = p;
    ul.append(li);
    log(`refused: ${p}`);
  }
  box.append(ul);
  box.hidden = false;
  setState('refused', 'Refused before starting; nothing was written.');
}

function showSummary(out: CompressOutcome): void {
  const s = out.summary;
  const table = $('summary-table');
  table.textContent = '';
  row(table, ['size', `${mb(s.bytesBefore)} → ${mb(s.bytesAfter)} (${(s.bytesBefore / Math.max(1, s.bytesAfter)).toFixed(2)}× smaller)`]);
  row(table, ['bits per weight', `${s.bitsPerWeight.toFixed(3)} (codes, scales and zero points of the quantized weights)`]);
  row(table, ['weights', `${s.tensorsQuantized} quantized (${(s.quantizedParams / 1e6).toFixed(2)} M parameters), ${s.tensorsSkipped} left dense${s.skipped.length ? ` (${[...new Set(s.skipped.map((k) => k.reason))].join('; ')})` : ''}, ${s.tensorsCopied} tensors copied`]);
  row(table, ['time', `${s.seconds.toFixed(2)} s (${(s.paramsPerSecond / 1e6).toFixed(2)} M parameters/s)`]);
  const worst = s.worstLayers[0];
  if (worst) row(table, ['largest error', `${worst.tensor}: ${(worst.relativeError * 100).toFixed(3)}%`]);
  for (const tr of table.querySelectorAll('tr')) tr.dataset.key = tr.querySelector('th')?.textContent ?? '';

  const chart = $('chart');
  chart.textContent = '';
  chart.append(errorBarChart(out.result.layers.map((l) => ({ label: l.tensor, value: l.relativeError }))));

  const files = $('file-table');
  files.textContent = '';
  for (const [name, blob] of out.output.entries()) row(files, [name, mb(blob.size)]);
  $('save-folder').hidden = !hasDirectoryPicker();
  $('save-status').textContent = '';
  $('eval-table').hidden = true;
  $('summary').hidden = false;
}

// ---- save --------------------------------------------------------------------

function initSave(): void {
  $('save-zip').addEventListener('click', async () => {
    if (!last) return;
    const status = $('save-status');
    try {
      status.textContent = 'Zipping…';
      const zip = await zipCheckpoint(last.output, last.output.name);
      download(zip, `${last.output.name}.zip`);
      status.textContent = `${last.output.name}.zip (${mb(zip.size)})`;
      log(`zip ${last.output.name}.zip: ${mb(zip.size)}`);
    } catch (e) {
      status.textContent = errorText(e);
      log(`zip: ${errorText(e)}`);
    }
  });
  $('save-folder').addEventListener('click', async () => {
    if (!last) return;
    const status = $('save-status');
    try {
      const where = await saveToPickedFolder(last.output, last.output.name, (f) => (status.textContent = `writing ${f}…`));
      status.textContent = `saved to ${where}`;
      log(`saved ${last.output.entries().length} files to ${where}`);
    } catch (e) {
      if ((e as { name?: string }).name === 'AbortError') {
        status.textContent = '';
        return;
      }
      status.textContent = errorText(e);
      log(`save: ${errorText(e)}`);
    }
  });
}

// ---- evaluate ----------------------------------------------------------------

function updateEvaluateButton(): void {
  const text = $<HTMLInputElement>('text-input').files?.[0];
  const s = document.body.dataset.state;
  $<HTMLButtonElement>('evaluate').disabled = !last || !text || !hw || s === 'running' || s === 'evaluating';
  if (s !== 'done' || !$('eval-table').hidden) return;
  $('eval-status').textContent = text ? `on ${text.name}` : 'Select a text file above to compare perplexities.';
}

async function onEvaluate(): Promise<void> {
  const file = $<HTMLInputElement>('text-input').files?.[0];
  if (!hw || !model || !last || !file) return;
  const status = $('eval-status');
  const table = $('eval-table');
  table.hidden = true;
  setState('evaluating', 'Evaluating…');
  try {
    const opts = {
      maxSeqLength: Math.max(2, Number($<HTMLInputElement>('eval-seq').value) || 128),
      maxWindows: Math.max(1, Number($<HTMLInputElement>('eval-windows').value) || 8),
      docSeparator: $<HTMLInputElement>('eval-sep').value,
    };
    const windows = await tokenWindows(model, { content: await file.text(), file: file.name }, opts);
    log(`evaluate on ${file.name}: ${windows.length} windows of ${opts.maxSeqLength} tokens`);
    const runs = [];
    for (const [label, folder] of [['original', model], ['compressed', last.output]] as const) {
      status.textContent = `${label}…`;
      const r = await perplexityOf(hw, folder, windows, (done, total) => (status.textContent = `${label}: ${done}/${total} windows`));
      for (const c of r.caveats) log(`note: ${c}`);
      log(`${label}: perplexity ${r.perplexity.toFixed(4)} over ${r.tokens} tokens (${r.seconds.toFixed(2)} s)`);
      runs.push({ label, ...r });
    }
    table.textContent = '';
    row(table, ['', 'perplexity', 'mean NLL', 'tokens', 'time'], true);
    for (const r of runs) {
      row(table, [r.label, r.perplexity.toFixed(4), r.meanNll.toFixed(5), String(r.tokens), `${r.seconds.toFixed(2)} s`]).dataset.model = r.label;
    }
    const delta = (runs[1].perplexity / runs[0].perplexity - 1) * 100;
    table.hidden = false;
    setState('done', 'Done.');
    status.textContent = `on ${file.name}: compressed ${delta >= 0 ? '+' : ''}${delta.toFixed(2)}% perplexity (weights quantized; activations run unquantized here)`;
  } catch (e) {
    log(`evaluate: ${errorText(e)}`);
    setState('done', 'Evaluation failed.');
    status.textContent = errorText(e);
  }
}

// ---- start -------------------------------------------------------------------

initFolderInputs();
initRecipe();
initSave();
$('compress').addEventListener('click', () => void onCompress());
$('cancel').addEventListener('click', () => abort?.abort(new Error('cancelled by the user')));
$('evaluate').addEventListener('click', () => void onEvaluate());
$('text-input').addEventListener('change', updateEvaluateButton);
if (!hasDirectoryPicker()) $('pick-folder').textContent = 'Choose model folder… (file input)';
void initGpu().catch((e) => {
  log(`GPU: ${errorText(e)}`);
  setState('no-webgpu', errorText(e));
});
