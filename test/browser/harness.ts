// Shared pieces of the browser tests: Chromium location and skip message, a
// static server for a built page on 127.0.0.1 (a secure context, so
// navigator.gpu is exposed), Vite builds with the Node-import guard, and a
// Chromium launch with the flags that give headless WebGPU on SwiftShader
// (../shared/reference/webgpu.md, Part A).
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join, extname, normalize, sep, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { build, type InlineConfig } from 'vite';
import { chromium, type Browser, type Page } from 'playwright-core';
import { rejectNodeImports } from '../../web/build/rejectNodeImports.js';

export { rejectNodeImports };

/** Debian's real binary; /usr/bin/chromium is a wrapper that adds flags of its own. */
export const CHROMIUM = process.env.WGC_CHROMIUM || '/usr/lib/chromium/chromium';
export const HAVE_CHROMIUM = existsSync(CHROMIUM);
export const SKIP_REASON = `${CHROMIUM} not found: install it with \`scripts/setup.sh --browser\` (Debian package chromium) or set WGC_CHROMIUM`;

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.map': 'application/json',
};

/** A running static server; `close()` also drops keep-alive sockets so the test process can exit. */
export interface StaticServer {
  readonly url: string;
  close(): Promise<void>;
}

/** Serves `dir` on an ephemeral port of 127.0.0.1. */
export function serve(dir: string): Promise<StaticServer> {
  const root = resolve(dir);
  const server: Server = createServer(async (req, res) => {
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
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      ok({
        url: `http://127.0.0.1:${port}/`,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}

/**
 * Builds a page with Vite into `outDir`. With `configFile` the page's own
 * config is used (what `npm run build:web` runs), with only the output folder
 * and log level overridden; otherwise a bare config with the Node-import guard.
 */
export async function buildPage(options: { root: string; outDir: string; configFile?: string }): Promise<void> {
  const common: InlineConfig = { mode: 'production', logLevel: 'warn' };
  if (options.configFile) {
    await build({ ...common, configFile: options.configFile, build: { outDir: options.outDir, emptyOutDir: true } });
    return;
  }
  await build({
    ...common,
    root: options.root,
    configFile: false,
    envDir: false,
    build: { outDir: options.outDir, emptyOutDir: true, target: 'es2022', minify: false, reportCompressedSize: false },
    plugins: [rejectNodeImports()],
  });
}

/**
 * Headless Chromium with WebGPU: --enable-unsafe-webgpu lifts the blocklist of
 * CPU adapters (without it requestAdapter() is null). As root Playwright adds
 * --no-sandbox itself. Pass other `args` to launch without it.
 */
export function launchChromium(args: readonly string[] = ['--enable-unsafe-webgpu']): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...args] });
}

/** Records the page's console and uncaught errors into `log`, for failure messages. */
export function recordPageLog(page: Page, log: string[]): void {
  page.on('console', (m) => log.push(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
}
