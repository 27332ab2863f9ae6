/**
 * PNG copies of the SVG charts, rendered by headless Chromium through
 * playwright-core (already a dev dependency for the browser tests). Optional:
 * without a Chromium binary the bench says so and keeps the SVGs.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

/** The Chromium binary to use: `$WGC_CHROMIUM`, else Debian's. */
export function chromiumPath(): string | undefined {
  const p = process.env.WGC_CHROMIUM ?? '/usr/lib/chromium/chromium';
  return existsSync(p) ? p : undefined;
}

/** Renders each SVG file to a PNG beside it (`x.svg` → `x.png`); returns the PNG paths. */
export async function renderPngs(svgFiles: readonly string[]): Promise<string[]> {
  const exe = chromiumPath();
  if (!exe) throw new Error('no Chromium found (set WGC_CHROMIUM or run scripts/setup.sh --browser)');
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: exe, headless: true });
  const out: string[] = [];
  try {
    const page = await browser.newPage({ deviceScaleFactor: 2 });
    for (const file of svgFiles) {
      const svg = await readFile(file, 'utf8');
      const w = Number(/width="(\d+)"/.exec(svg)?.[1] ?? 800);
      const h = Number(/height="(\d+)"/.exec(svg)?.[1] ?? 600);
      await page.setViewportSize({ width: w, height: h });
      await page.setContent(`<!doctype html><html><body style="margin:0">${svg}</body></html>`);
      const png = file.replace(/\.svg$/, '.png');
      await page.locator('svg').screenshot({ path: png });
      out.push(png);
    }
  } finally {
    await browser.close();
  }
  return out;
}
