// Browser smoke test: bundles the browser-safe core with Vite, serves it on
// 127.0.0.1 and runs the f16 -> f32 cast kernel in headless Chromium on
// SwiftShader (see ../shared/reference/webgpu.md, Part A), so the browser
// path (navigator.gpu, bundled shaders, no node: imports) stays alive.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, extname, normalize, sep, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { builtinModules } from 'node:module';
import type { AddressInfo } from 'node:net';
import { build, type Plugin } from 'vite';
import { chromium, type Browser, type Page } from 'playwright-core';
import { rng, freshSeed } from '../helpers/random.js';
import type { CastResult } from './page/main.js';

/** Debian's real binary; /usr/bin/chromium is a wrapper that adds flags of its own. */
const CHROMIUM = process.env.WGC_CHROMIUM || '/usr/lib/chromium/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const SKIP_REASON = `${CHROMIUM} not found: install it with \`scripts/setup.sh --browser\` (Debian package chromium) or set WGC_CHROMIUM`;
const PAGE_DIR = fileURLToPath(new URL('./page/', import.meta.url));

if (!HAVE_CHROMIUM) console.warn(`browser smoke test skipped: ${SKIP_REASON}`);

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
};

/** Static file server for the built page; http://127.0.0.1 is a secure context, so navigator.gpu is exposed. */
function serve(dir: string): Promise<Server> {
  const root = resolve(dir);
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = normalize(join(root, path === '/' ? 'index.html' : path));
    if (!file.startsWith(root + sep)) {
      res.writeHead(403).end();
      return;
    }
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': MIME[extname(file)] ?? 'application/octet-stream' }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok(server));
  });
}

/**
 * Fails the bundle when the browser core reaches a Node built-in or Dawn's
 * Node bindings, naming the importing file. Vite would otherwise replace the
 * module with an empty stub and the page would break at run time instead.
 */
function rejectNodeImports(): Plugin {
  const builtins = new Set(builtinModules);
  return {
    name: 'wgc-reject-node-imports',
    enforce: 'pre',
    resolveId(source, importer) {
      const bare = source.replace(/^node:/, '').split('/')[0];
      if (source.startsWith('node:') || builtins.has(bare) || source === 'webgpu' || source.startsWith('webgpu/')) {
        this.error(`${importer ?? '(entry)'} imports "${source}": the browser-safe core (src/index.ts) must not use Node-only modules; keep them under src/gpu/node/ or src/node.ts`);
      }
      return null;
    },
  };
}

/** float64 reference for an IEEE half. */
function halfToNumber(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

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
  let server: Server | undefined;
  let browser: Browser | undefined;
  let page: Page | undefined;
  const pageLog: string[] = [];

  beforeAll(async () => {
    if (!HAVE_CHROMIUM) return;
    outDir = mkdtempSync(join(tmpdir(), 'wgc-browser-'));
    await build({
      root: PAGE_DIR,
      configFile: false,
      envDir: false,
      mode: 'production',
      logLevel: 'warn',
      build: { outDir, emptyOutDir: true, target: 'es2022', minify: false, reportCompressedSize: false },
      plugins: [rejectNodeImports()],
    });
    server = await serve(outDir);
    const { port } = server.address() as AddressInfo;
    // As root Playwright adds --no-sandbox itself; --enable-unsafe-webgpu lifts
    // Chromium's blocklist of CPU adapters (without it requestAdapter() is null).
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--enable-unsafe-webgpu'] });
    page = await browser.newPage();
    page.on('console', (m) => pageLog.push(`console.${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => pageLog.push(`pageerror: ${e.message}`));
    await page.goto(`http://127.0.0.1:${port}/`);
    try {
      await page.waitForFunction(() => typeof window.wgcCastF16 === 'function', undefined, { timeout: 15_000 });
    } catch {
      throw new Error(`the page did not load its entry module.\n${pageLog.join('\n')}`);
    }
  });

  afterAll(async () => {
    await browser?.close();
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((ok) => server!.close(() => ok()));
    }
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
      const want = halfToNumber(halves[i]);
      if (!Object.is(got[i], want)) bad.push(`[${i}] 0x${halves[i].toString(16)} -> ${got[i]}, want ${want}`);
    }
    expect(bad, `seed ${seed}: ${bad.length} of ${n} wrong, first: ${bad.slice(0, 5).join('; ')}`).toEqual([]);
    console.log(
      `browser smoke: ${res.adapter.vendor}/${res.adapter.architecture} fallback=${res.adapter.isFallbackAdapter} ` +
        `f16=${res.features.includes('shader-f16')} subgroups=${res.features.includes('subgroups')}; ${n} halves cast in ${res.ms.toFixed(0)} ms (incl. device)`,
    );
  });
});
