import { Hardware, GpuError, type HardwareOptions } from './hardware.js';

/** Acquires a {@link Hardware} from `navigator.gpu` in a browser or worker. */
export async function acquireBrowserHardware(options: HardwareOptions = {}): Promise<Hardware> {
  const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (!gpu) {
    throw new GpuError(
      'WebGPU is not available in this browser. Use a current Chrome or Edge (or enable WebGPU in Firefox/Safari settings); ' +
        'headless Chromium needs --enable-unsafe-webgpu.',
    );
  }
  return Hardware.fromGPU(gpu, options, 'Your browser exposes WebGPU but offered no adapter (blocklisted GPU?).');
}
