/** WebGPU detection for the page: a Hardware, or why there is none and how to get one. */
import { acquireBrowserHardware, type Hardware } from '../../src/index.js';

export type GpuStatus = { readonly ok: true; readonly hw: Hardware } | { readonly ok: false; readonly reason: string; readonly help: readonly string[] };

const ENABLE_HELP: readonly string[] = [
  'Chrome or Edge 113 or later on Windows, macOS and ChromeOS have WebGPU on by default; on Linux open chrome://flags, enable "Unsafe WebGPU Support" (#enable-unsafe-webgpu) and "Vulkan" (#enable-vulkan), and restart.',
  'Firefox 141 or later has WebGPU on Windows; elsewhere set dom.webgpu.enabled to true in about:config (Nightly).',
  'Safari 26 has WebGPU; on older versions enable it under Develop → Feature Flags → WebGPU.',
  'Headless Chromium needs the --enable-unsafe-webgpu flag. chrome://gpu lists the adapters and whether they are blocklisted.',
];

/** Acquires the GPU, or explains what is missing. */
export async function detectWebGPU(): Promise<GpuStatus> {
  if (!globalThis.isSecureContext) {
    return {
      ok: false,
      reason: 'WebGPU is only available on secure pages: open this page over https:// or from http://localhost / http://127.0.0.1 (npm run web serves it there).',
      help: ENABLE_HELP,
    };
  }
  if (!(globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu) {
    return { ok: false, reason: 'WebGPU is not available in this browser (navigator.gpu is missing), so nothing can be compressed here.', help: ENABLE_HELP };
  }
  try {
    return { ok: true, hw: await acquireBrowserHardware() };
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    return {
      ok: false,
      reason: /no webgpu adapter/i.test(msg)
        ? 'This browser exposes WebGPU but offered no GPU adapter: the GPU or its driver may be blocklisted, or hardware acceleration is turned off.'
        : `WebGPU failed to start: ${msg}`,
      help: ENABLE_HELP,
    };
  }
}
