import { execFileSync } from 'node:child_process';

/** Regenerates the bundled shader strings so tests always see the current shaders/. */
export default function setup(): void {
  execFileSync(process.execPath, ['scripts/bundle-shaders.mjs'], { stdio: 'inherit' });
}
