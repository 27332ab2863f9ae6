// Browser smoke test: bundles the browser-safe core with Vite, serves it on
// 127.0.0.1 and runs the f16 -> f32 cast kernel in headless Chromium on
// SwiftShader (see ../shared/reference/webgpu.md, Part A), so the browser
// path (navigator.gpu, bundled shaders, no node: imports) stays alive.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { rng, freshSeed } from '../helpers/random.js';
import { HAVE_CHROMIUM, SKIP_REASON, buildPage, serve, launchChromium, recordPageLog, type StaticServer } from './harness.js';
import type { CastResult } from './page/main.js';
import { f16BitsToNumber } from '../../src/quantization/numerics.js';

const PAGE_DIR = fileURLToPath(new URL('./page/', import.meta.url));

if (!HAVE_CHROMIUM) console.warn(`browser smoke test skipped: ${SKIP_REASON}`);


/** Random finite halves over the whole range, subnormals and signed zeros included. */
function randomHalves(n: number, seed: number): number[] {
  const r = rng(seed);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    let h = Math.floor(r() * 0x10000);
    if (((h >> 10) & 0x1f) === 31) h &= 0xfbff;
    out.push(h);
  }
  return out;
}

describe('browser (headless Chromium, SwiftShader)', () => {
  let outDir: string | undefined;
  let server: StaticServer | undefined;
  let browser: Browser | undefined;
  let page: Page | undefined;
  const pageLog: string[] = [];

  beforeAll(async () => {
    if (!HAVE_CHROMIUM) return;
    outDir = mkdtempSync(join(tmpdir(), 'wgc-browser-'));
    await buildPage({ root: PAGE_DIR, outDir });
    server = await serve(outDir);
    browser = await launchChromium();
    page = await browser.newPage();
    recordPageLog(page, pageLog);
    await page.goto(server.url);
    try {
      await page.waitForFunction(() => typeof window.wgcCastF16 === 'function', undefined, { timeout: 15_000 });
    } catch {
      throw new Error(`the page did not load its entry module.\n${pageLog.join('\n')}`);
    }
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (outDir) rmSync(outDir, { recursive: true, force: true });
  });

  it('casts f16 to f32 exactly, output poisoned first, on the SwiftShader fallback adapter', async (ctx) => {
    if (!HAVE_CHROMIUM) ctx.skip(SKIP_REASON);
    const seed = freshSeed();
    const n = 4099; // odd: the last u32 word holds one half; 2050 words = 8 full workgroups and a partial one
    const halves = randomHalves(n, seed);
    let res: CastResult;
    try {
      res = await page!.evaluate((h) => window.wgcCastF16(h), halves);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${pageLog.join('\n')}`);
    }

    // The adapter measured in the reference: SwiftShader, a fallback adapter, no shader-f16.
    expect(res.adapter.architecture + ' ' + res.adapter.vendor).toMatch(/swiftshader/i);
    expect(res.adapter.isFallbackAdapter).toBe(true);
    expect(res.validationError).toBeNull();
    expect(res.poisonReused).toBe(true);
    expect(res.bits.length).toBe(n);

    const got = new Float32Array(Uint32Array.from(res.bits).buffer);
    const bad: string[] = [];
    for (let i = 0; i < n; i++) {
      const want = f16BitsToNumber(halves[i]);
      if (!Object.is(got[i], want)) bad.push(`[${i}] 0x${halves[i].toString(16)} -> ${got[i]}, want ${want}`);
    }
    expect(bad, `seed ${seed}: ${bad.length} of ${n} wrong, first: ${bad.slice(0, 5).join('; ')}`).toEqual([]);
    console.log(
      `browser smoke: ${res.adapter.vendor}/${res.adapter.architecture} fallback=${res.adapter.isFallbackAdapter} ` +
        `f16=${res.features.includes('shader-f16')} subgroups=${res.features.includes('subgroups')}; ${n} halves cast in ${res.ms.toFixed(0)} ms (incl. device)`,
    );
  });
});
