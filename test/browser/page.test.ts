// End-to-end test of the compression page (web/): builds it with its own Vite
// config, serves it on 127.0.0.1 and drives it in headless Chromium on
// SwiftShader (no shader-f16, 256 invocations per workgroup, subgroups of 4)
// like a user would: select a model folder through the webkitdirectory
// input, pick a preset or paste a recipe, Compress, download the zip. The
// zip's files must be byte-identical to what `wgc oneshot` writes on Node
// (lavapipe: shader-f16, subgroups of 8), and read back through the Node
// checkpoint reader with the same modules, shapes and dequantized values.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createHash } from 'node:crypto';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { unzipSync } from 'fflate';
import type { Browser, Page } from 'playwright-core';
import { HAVE_CHROMIUM, SKIP_REASON, buildPage, serve, launchChromium, recordPageLog, type StaticServer } from './harness.js';
import { acquireHardware } from '../../src/gpu/node/acquire.js';
import type { Hardware } from '../../src/gpu/hardware.js';
import { dataFreeOneshot, type DataFreeRecipe } from '../../src/quantization/dataFreeOneshot.js';
import type { QuantizationSummary } from '../../src/quantization/summary.js';
import { openModelDir, writeOutputFolder, openNodeFolder } from '../../src/io/node/index.js';
import { CompressedCheckpoint } from '../../src/io/compressed/reader.js';
import { MemoryFolder } from '../../src/io/folder.js';
import { MemorySource } from '../../src/io/source.js';
import { openSafetensors } from '../../src/io/safetensors/reader.js';
import { openModelFolder } from '../../src/io/model/folder.js';
import { openCausalLM } from '../../src/models/load.js';
import { evaluatePerplexity } from '../../src/models/evaluate.js';
import { loadTokenizer, loadTokenizedDataset } from '../../src/data/node.js';
import { perplexityWindows } from '../../src/data/perplexity.js';
import { writeSyntheticLlama, type SyntheticLlamaConfig } from '../../src/quantization/syntheticLlama.js';
import { checkLimits, ZIP_LIMIT_BYTES } from '../../web/src/limits.js';

const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const SHARED = resolve(REPO, '..', 'shared');
const STORIES = join(SHARED, 'models', 'stories260K');
const HAVE_STORIES = existsSync(join(STORIES, 'model.safetensors'));
const EVAL_TEXT = join(SHARED, 'data', 'tinystories-valid-eval.txt');
const SCREENSHOT = join(REPO, 'docs', 'browser-demo.png');

if (!HAVE_CHROMIUM) console.warn(`compression page test skipped: ${SKIP_REASON}`);
if (HAVE_CHROMIUM && !HAVE_STORIES) console.warn(`compression page: stories260K cases skipped: ${STORIES} is absent`);

/** Small enough for SwiftShader; every Linear input width a multiple of 128 so group-128 presets apply. */
const TINY: SyntheticLlamaConfig = { hiddenSize: 128, intermediateSize: 256, numLayers: 2, numHeads: 4, numKvHeads: 2, vocabSize: 256, dtype: 'bfloat16', seed: 2026 };

/** Pasted into the page's recipe box and handed to `wgc oneshot --recipe` as a file. */
const W4_CHANNEL_RECIPE = `quant_stage:
  quant_modifiers:
    QuantizationModifier:
      ignore: [lm_head]
      config_groups:
        group_0:
          targets: [Linear]
          weights: {num_bits: 4, type: int, symmetric: true, strategy: channel}
`;

type Case = { readonly scheme: string } | { readonly recipe: string };

let work: string;
let server: StaticServer | undefined;
let browser: Browser | undefined;
let page: Page | undefined;
const pageLog: string[] = [];
let tinyDir: string;
let nodeHw: Hardware | undefined;

/**
 * The Node data-free path, exactly what `wgc oneshot` runs (dataFreeOneshot on
 * a Dawn/lavapipe device), on one device shared by all Node runs so its
 * pipelines compile once.
 */
async function nodeOneshot(model: string, output: string, c: Case): Promise<QuantizationSummary> {
  nodeHw ??= await acquireHardware();
  let quantization: DataFreeRecipe;
  if ('scheme' in c) quantization = { scheme: c.scheme };
  else {
    const file = join(work, `recipe-${basename(output)}.yaml`);
    writeFileSync(file, c.recipe);
    quantization = { recipe: file };
  }
  return dataFreeOneshot(nodeHw, { model, output, quantization });
}

function pageFailure(what: string, e: unknown): Error {
  return new Error(`${what}: ${(e as Error).message}\n--- page log ---\n${pageLog.slice(-40).join('\n')}`);
}

/** Drives the page through one compression; returns the final state and, when done, the zip's files. */
async function compressInPage(dir: string, c: Case & { ignore?: string }, p: Page = page!): Promise<{ state: string; files: Map<string, Uint8Array>; root: string; refusal: string; bits: string }> {
  try {
    await p.setInputFiles('#folder-input', dir);
    const name = basename(dir);
    await p.waitForFunction((n) => (document.getElementById('model-info')?.textContent ?? '').startsWith(`${n}:`), name, { timeout: 15_000 });
    if ('scheme' in c) {
      await p.check('input[name="recipe-kind"][value="preset"]');
      await p.selectOption('#scheme', c.scheme);
      await p.fill('#ignore', c.ignore ?? '');
    } else {
      await p.check('input[name="recipe-kind"][value="yaml"]');
      await p.fill('#recipe-yaml', c.recipe);
    }
    await p.click('#compress');
    await p.waitForFunction(() => ['done', 'refused', 'error'].includes(document.body.dataset.state ?? ''), undefined, { timeout: 90_000, polling: 100 });
    const state = (await p.getAttribute('body', 'data-state')) ?? '';
    const refusal = (await p.textContent('#refusal')) ?? '';
    if (state === 'error') throw new Error(`the page failed: ${await p.textContent('#status')}`);
    if (state !== 'done') return { state, files: new Map(), root: '', refusal, bits: '' };
    const bits = (await p.textContent('#summary-table tr[data-key="bits per weight"] td')) ?? '';
    const [download] = await Promise.all([p.waitForEvent('download', { timeout: 30_000 }), p.click('#save-zip')]);
    const zipPath = await download.path();
    const entries = unzipSync(new Uint8Array(readFileSync(zipPath)));
    const names = Object.keys(entries);
    const root = names[0]?.split('/')[0] ?? '';
    const files = new Map<string, Uint8Array>();
    for (const n of names) {
      expect(n.startsWith(`${root}/`), `zip entry ${n} outside ${root}/`).toBe(true);
      files.set(n.slice(root.length + 1), entries[n]);
    }
    expect(download.suggestedFilename()).toBe(`${root}.zip`);
    return { state, files, root, refusal, bits };
  } catch (e) {
    throw pageFailure(`page run on ${dir}`, e);
  }
}

/** Names the tensors whose bytes differ, and how, when two safetensors files are not identical. */
async function explainDifference(file: string, a: Uint8Array, b: Uint8Array): Promise<string> {
  if (!file.endsWith('.safetensors')) return `${file}: ${new TextDecoder().decode(a).slice(0, 400)}\n  vs\n${new TextDecoder().decode(b).slice(0, 400)}`;
  const sa = await openSafetensors(new MemorySource(a, `browser/${file}`));
  const sb = await openSafetensors(new MemorySource(b, `node/${file}`));
  const lines: string[] = [];
  for (const t of sa.tensors) {
    if (!sb.has(t.name)) {
      lines.push(`${t.name}: only in the browser output`);
      continue;
    }
    const x = await sa.readTensor(t.name);
    const y = await sb.readTensor(t.name);
    let diff = 0;
    let first = -1;
    for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) (diff++, first < 0 && (first = i));
    if (diff || x.length !== y.length) lines.push(`${t.name} ${t.dtype} [${t.shape}]: ${diff} of ${x.length} bytes differ (first at byte ${first})`);
  }
  return lines.slice(0, 12).join('\n') || `${file}: headers differ`;
}

/** The browser files equal Node's byte for byte, and the reader sees the same checkpoint in both. */
async function expectSameCheckpoint(browserFiles: Map<string, Uint8Array>, nodeDir: string): Promise<void> {
  const nodeNames = readdirSync(nodeDir).sort();
  expect([...browserFiles.keys()].sort()).toEqual(nodeNames);
  for (const f of nodeNames) {
    const want = new Uint8Array(readFileSync(join(nodeDir, f)));
    const got = browserFiles.get(f)!;
    if (Buffer.compare(Buffer.from(got), Buffer.from(want)) !== 0) {
      throw new Error(`browser and Node outputs differ in ${f} (${got.byteLength} vs ${want.byteLength} bytes):\n${await explainDifference(f, got, want)}`);
    }
  }
  const fromBrowser = await CompressedCheckpoint.open(new MemoryFolder('browser', Object.fromEntries(browserFiles)));
  const fromNode = await CompressedCheckpoint.open(await openNodeFolder(nodeDir));
  try {
    expect(fromBrowser.quantization).toEqual(fromNode.quantization);
    expect([...fromBrowser.modules.keys()]).toEqual([...fromNode.modules.keys()]);
    expect(fromBrowser.modules.size).toBeGreaterThan(0);
    expect(fromBrowser.denseNames).toEqual(fromNode.denseNames);
    for (const [module, info] of fromBrowser.modules) {
      expect(info.shape, module).toEqual(fromNode.modules.get(module)!.shape);
      const a = await fromBrowser.readDense(`${module}.weight`);
      const b = await fromNode.readDense(`${module}.weight`);
      expect(a.length).toBe(b.length);
      for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) throw new Error(`${module}.weight[${i}]: browser ${a[i]} vs Node ${b[i]}`);
    }
  } finally {
    await fromBrowser.weights.close();
    await fromNode.weights.close();
  }
}

beforeAll(async () => {
  if (!HAVE_CHROMIUM) return;
  work = mkdtempSync(join(tmpdir(), 'wgc-page-'));
  const outDir = join(work, 'site');
  tinyDir = join(work, 'tiny-llama');
  await Promise.all([
    buildPage({ root: join(REPO, 'web'), outDir, configFile: join(REPO, 'web', 'vite.config.ts') }),
    writeOutputFolder(tinyDir, {}, (out) => writeSyntheticLlama(out, TINY)),
  ]);
  server = await serve(outDir);
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  recordPageLog(page, pageLog);
  await page.goto(server.url);
  try {
    await page.waitForFunction(() => ['ready', 'no-webgpu'].includes(document.body.dataset.state ?? ''), undefined, { timeout: 20_000 });
  } catch (e) {
    throw pageFailure('the page did not start', e);
  }
}, 120_000);

afterAll(async () => {
  await nodeHw?.destroy();
  await browser?.close();
  await server?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('compression page limits (no browser)', () => {
  const device = { maxStorageBufferBindingSize: 128 * 2 ** 20, maxBufferSize: 256 * 2 ** 20 };
  const w = (tensor: string, rows: number, cols: number) => ({ tensor, shape: [rows, cols] as [number, number], bytes: rows * cols * 2, bits: 4, elementsPerScale: 128, zeroPoints: false });

  it('accepts a model within the limits and estimates its output', () => {
    const r = checkLimits({ weights: [w('a.weight', 4096, 4096)], denseBytes: 1000, device, canSaveToFolder: false });
    expect(r.problems).toEqual([]);
    // 4-bit codes + one f32 scale per 128 weights
    expect(r.estimatedOutputBytes).toBe(1000 + (4096 * 4096) / 2 + ((4096 * 4096) / 128) * 4);
    expect(r.largest).toEqual({ tensor: 'a.weight', workingSetBytes: 4096 * 4096 * 4 * 3 });
  });

  it('refuses a weight whose f32 row exceeds the storage binding limit, naming it', () => {
    const r = checkLimits({ weights: [w('big.weight', 8, 40 * 2 ** 20)], denseBytes: 0, device, canSaveToFolder: true });
    expect(r.problems.join()).toMatch(/big\.weight: one row of \[8, 41943040\] is 160\.0 MiB as f32, more than this device's storage binding limit of 128\.0 MiB/);
  });

  it('refuses an output over 4 GiB when only a zip can be saved, and one that does not fit the reported memory', () => {
    const big = { weights: [w('a.weight', 1024, 1024)], denseBytes: ZIP_LIMIT_BYTES, device };
    expect(checkLimits({ ...big, canSaveToFolder: false }).problems.join()).toMatch(/limited to 4 GiB/);
    expect(checkLimits({ ...big, canSaveToFolder: true }).problems).toEqual([]);
    expect(checkLimits({ ...big, canSaveToFolder: true, deviceMemoryGiB: 4 }).problems.join()).toMatch(/more than three quarters of the 4 GiB/);
  });
});

describe('compression page (headless Chromium, SwiftShader)', () => {
  it('says when WebGPU is missing and how to enable it, and does not offer Compress', async (ctx) => {
    if (!HAVE_CHROMIUM) ctx.skip(SKIP_REASON);
    const p = await browser!.newPage();
    try {
      await p.addInitScript(() => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true }));
      await p.goto(server!.url);
      await p.waitForFunction(() => document.body.dataset.state === 'no-webgpu', undefined, { timeout: 15_000 });
      expect(await p.textContent('#no-webgpu')).toMatch(/WebGPU is not available in this browser/);
      expect(await p.textContent('#gpu-status')).toMatch(/How to enable WebGPU:.*chrome:\/\/flags/);
      expect(await p.isDisabled('#compress')).toBe(true);
    } finally {
      await p.close();
    }
  });

  it('says when the browser offers no adapter, and does not offer Compress', async (ctx) => {
    if (!HAVE_CHROMIUM) ctx.skip(SKIP_REASON);
    // What Chromium does without --enable-unsafe-webgpu on a GPU-less machine
    // (requestAdapter() resolves to null), without launching a second browser.
    const p = await browser!.newPage();
    try {
      await p.addInitScript(() => {
        GPU.prototype.requestAdapter = async () => null;
      });
      await p.goto(server!.url);
      await p.waitForFunction(() => document.body.dataset.state === 'no-webgpu', undefined, { timeout: 15_000 });
      expect(await p.textContent('#no-webgpu')).toMatch(/offered no GPU adapter: the GPU or its driver may be blocklisted/);
      expect(await p.textContent('#gpu-status')).toMatch(/How to enable WebGPU:.*--enable-unsafe-webgpu/);
      expect(await p.isDisabled('#compress')).toBe(true);
    } finally {
      await p.close();
    }
  });

  it('shows the adapter: SwiftShader, no shader-f16', async (ctx) => {
    if (!HAVE_CHROMIUM) ctx.skip(SKIP_REASON);
    expect(await page!.getAttribute('body', 'data-state'), pageLog.join('\n')).toBe('ready');
    const adapter = (await page!.textContent('#adapter')) ?? '';
    expect(adapter).toMatch(/swiftshader/i);
    expect(adapter).toMatch(/shader-f16 no/);
  });

  it('tiny synthetic Llama, W4A16 and W8A8: the zip equals the Node data-free path (`wgc oneshot`) byte for byte', async (ctx) => {
    if (!HAVE_CHROMIUM) ctx.skip(SKIP_REASON);
    for (const scheme of ['W4A16', 'W8A8']) {
      const t0 = performance.now();
      const nodeDir = join(work, `node-tiny-${scheme}`);
      const summary = await nodeOneshot(tinyDir, nodeDir, { scheme });
      const t1 = performance.now();
      const r = await compressInPage(tinyDir, { scheme });
      const t2 = performance.now();
      expect(r.state).toBe('done');
      expect(r.root).toBe(`tiny-llama-${scheme}`);
      await expectSameCheckpoint(r.files, nodeDir);
      expect(r.bits).toMatch(new RegExp(`^${summary.bitsPerWeight.toFixed(3)} `));
      console.log(`page ${scheme} tiny-llama: Node ${((t1 - t0) / 1000).toFixed(1)} s, browser run + zip ${((t2 - t1) / 1000).toFixed(1)} s; ${r.files.size} files byte-identical`);
    }

    // "Save into a folder…" through the File System Access API: the picker is
    // stubbed to hand out the origin-private file system's root (a real
    // FileSystemDirectoryHandle), since headless Chromium shows no dialog.
    const p = page!;
    await p.evaluate(() => {
      (window as unknown as { showDirectoryPicker: () => Promise<FileSystemDirectoryHandle> }).showDirectoryPicker = () => navigator.storage.getDirectory();
    });
    expect(await p.isVisible('#save-folder')).toBe(true);
    await p.click('#save-folder');
    await p.waitForFunction(() => /^saved to |exists|rror/.test(document.getElementById('save-status')?.textContent ?? ''), undefined, { timeout: 20_000 });
    expect(await p.textContent('#save-status')).toMatch(/^saved to .*tiny-llama-W8A8$/);
    const saved = await p.evaluate(async () => {
      const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('tiny-llama-W8A8');
      const out: Record<string, string> = {};
      for await (const [name, h] of (dir as unknown as { entries(): AsyncIterable<[string, FileSystemFileHandle]> }).entries()) {
        const digest = await crypto.subtle.digest('SHA-256', await (await h.getFile()).arrayBuffer());
        out[name] = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
      }
      return out;
    });
    const nodeDir = join(work, 'node-tiny-W8A8');
    const want = Object.fromEntries(readdirSync(nodeDir).map((f) => [f, createHash('sha256').update(readFileSync(join(nodeDir, f))).digest('hex')]));
    expect(saved).toEqual(want);
    // A second save into the same place refuses rather than mixing checkpoints.
    await p.click('#save-folder');
    await p.waitForFunction(() => /already exists/.test(document.getElementById('save-status')?.textContent ?? ''), undefined, { timeout: 20_000 });
  }, 180_000);

  it('refuses a model too large for the reported memory before the GPU starts', async (ctx) => {
    if (!HAVE_CHROMIUM) ctx.skip(SKIP_REASON);
    // navigator.deviceMemory of 1 KiB: the tiny model's output alone exceeds the budget.
    const p = await browser!.newPage();
    const log: string[] = [];
    recordPageLog(p, log);
    try {
      await p.addInitScript(() => Object.defineProperty(Navigator.prototype, 'deviceMemory', { get: () => 2 ** -20, configurable: true }));
      await p.goto(server!.url);
      await p.waitForFunction(() => document.body.dataset.state === 'ready', undefined, { timeout: 20_000 });
      const r = await compressInPage(tinyDir, { scheme: 'W4A16' }, p);
      expect(r.state).toBe('refused');
      expect(r.refusal).toMatch(/Refused before starting:.*the page would hold about .* MiB .*more than three quarters of the [0-9.e-]+ GiB this device reports/);
      expect(await p.isHidden('#progress')).toBe(true);
      expect(await p.isHidden('#summary')).toBe(true);
      expect(await p.textContent('#log')).not.toMatch(/\[1\/\d+\]/);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${log.join('\n')}`);
    } finally {
      await p.close();
    }
  });

  it('stories260K: W8A8 preset and a pasted W4 channel recipe equal the Node output; W4A16 (group 128) is refused before starting; perplexity side by side', async (ctx) => {
    if (!HAVE_CHROMIUM) ctx.skip(SKIP_REASON);
    if (!HAVE_STORIES) ctx.skip(`${STORIES} is absent`);
    const refused = await compressInPage(STORIES, { scheme: 'W4A16' });
    expect(refused.state).toBe('refused');
    expect(refused.refusal).toMatch(/Refused before starting:.*model\.layers\.0\.mlp\.down_proj\.weight: 172 input columns are not a multiple of group_size 128/);

    for (const c of [{ scheme: 'W8A8' }, { recipe: W4_CHANNEL_RECIPE }] as const) {
      const label = 'scheme' in c ? c.scheme : 'recipe';
      const nodeDir = join(work, `node-stories-${label}`);
      const t0 = performance.now();
      await nodeOneshot(STORIES, nodeDir, c);
      const t1 = performance.now();
      const r = await compressInPage(STORIES, c);
      const t2 = performance.now();
      expect(r.state).toBe('done');
      expect(r.root).toBe(`stories260K-${label}`);
      await expectSameCheckpoint(r.files, nodeDir);
      console.log(`page ${label} stories260K: Node ${((t1 - t0) / 1000).toFixed(1)} s, browser run + zip ${((t2 - t1) / 1000).toFixed(1)} s; ${r.files.size} files byte-identical`);
    }

    if (!existsSync(EVAL_TEXT)) {
      console.warn(`compression page: evaluate step skipped: ${EVAL_TEXT} is absent`);
      return;
    }
    // Evaluate the last run (the W4 channel recipe): a slice of the eval text, 4 windows of 64 tokens.
    const text = join(work, 'eval.txt');
    writeFileSync(text, readFileSync(EVAL_TEXT, 'utf8').slice(0, 6000));
    const p = page!;
    await p.setInputFiles('#text-input', text);
    await p.fill('#eval-seq', '64');
    await p.fill('#eval-windows', '4');
    const t0 = performance.now();
    await p.click('#evaluate');
    try {
      await p.waitForFunction(() => document.body.dataset.state === 'done' && !document.getElementById('eval-table')!.hidden, undefined, { timeout: 60_000 });
    } catch (e) {
      throw pageFailure('evaluate', e);
    }
    const cell = async (model: string, col: number): Promise<number> => Number(await p.textContent(`#eval-table tr[data-model="${model}"] td:nth-child(${col})`));
    const browserPpl = { original: await cell('original', 2), compressed: await cell('compressed', 2) };
    const tokens = await cell('original', 4);
    const t1 = performance.now();

    // The same windows through the Node forward on lavapipe, for both checkpoints.
    const tokenizer = await loadTokenizer(STORIES);
    const docs = await loadTokenizedDataset(text, tokenizer, { docSeparator: '<|endoftext|>' });
    const windows = perplexityWindows(docs, 64, 4);
    expect(windows.length).toBe(4);
    expect(tokens).toBe(4 * 63);
    nodeHw ??= await acquireHardware();
    const hw = nodeHw;
    const nodePpl: Record<string, number> = {};
    for (const [label, dir] of [['original', STORIES], ['compressed', join(work, 'node-stories-recipe')]] as const) {
      const folder = label === 'original' ? await openModelDir(dir) : await openModelFolder(await openNodeFolder(dir));
      const lm = await openCausalLM(hw, folder);
      nodePpl[label] = (await evaluatePerplexity(lm, windows)).perplexity;
      await lm.dispose?.();
    }
    // Different adapters (f16/subgroup paths on lavapipe, f32 on SwiftShader) sum in different orders.
    expect(Math.abs(browserPpl.original / nodePpl.original - 1)).toBeLessThan(1e-3);
    expect(Math.abs(browserPpl.compressed / nodePpl.compressed - 1)).toBeLessThan(1e-3);
    expect(browserPpl.compressed).not.toBe(browserPpl.original);
    console.log(
      `page evaluate stories260K (${tokens} tokens): browser ppl ${browserPpl.original} → ${browserPpl.compressed}, ` +
        `Node ${nodePpl.original.toFixed(4)} → ${nodePpl.compressed.toFixed(4)}; browser ${((t1 - t0) / 1000).toFixed(1)} s`,
    );
  }, 180_000);

  it('writes a screenshot of the finished page to docs/browser-demo.png', async (ctx) => {
    if (!HAVE_CHROMIUM) ctx.skip(SKIP_REASON);
    expect(await page!.getAttribute('body', 'data-state')).toBe('done');
    mkdirSync(join(REPO, 'docs'), { recursive: true });
    // The log's timings change every run; collapse it so the picture shows the result.
    await page!.evaluate(() => {
      (document.getElementById('log-box') as HTMLDetailsElement).open = false;
    });
    const png = await page!.screenshot({ fullPage: true, type: 'png' });
    writeFileSync(SCREENSHOT, png);
    expect(png.byteLength).toBeGreaterThan(10_000);
    console.log(`page screenshot: ${SCREENSHOT} (${(png.byteLength / 1024).toFixed(0)} KiB)`);
  });
});
