import { create, globals } from 'webgpu';
import { Hardware, GpuError, type HardwareOptions } from '../hardware.js';

const INSTALL_HINT =
  'Node uses Dawn (npm "webgpu"), which needs a Vulkan driver. On a machine without a GPU run `npm run setup` ' +
  '(installs Mesa lavapipe from bookworm-backports on Debian) or install your GPU vendor\'s Vulkan driver.';

let globalsInstalled = false;

/**
 * Acquires a {@link Hardware} in Node through Dawn's bindings. The adapter is
 * chosen by `options.adapter` or the `WGC_ADAPTER` environment variable: a
 * power preference (`high-performance`, `low-power`) or a substring of the
 * adapter name (`llvmpipe`, `NVIDIA`), which Dawn matches itself.
 */
export async function acquireHardware(options: HardwareOptions = {}): Promise<Hardware> {
  if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = '/tmp';
  if (!globalsInstalled) {
    // GPUBufferUsage & co. are globals in a browser; Dawn ships them separately.
    for (const [k, v] of Object.entries(globals)) {
      if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
    }
    globalsInstalled = true;
  }
  const choice = options.adapter ?? process.env.WGC_ADAPTER;
  const byName = choice && choice !== 'high-performance' && choice !== 'low-power' ? choice : undefined;
  let gpu: GPU;
  try {
    gpu = create(byName ? [`adapter=${byName}`] : []);
  } catch (e) {
    throw new GpuError(`Could not load Dawn's WebGPU bindings: ${(e as Error).message}. ${INSTALL_HINT}`);
  }
  try {
    return await Hardware.fromGPU(gpu, { ...options, adapter: byName ? undefined : choice }, INSTALL_HINT);
  } catch (e) {
    if (byName && e instanceof Error) {
      throw new GpuError(`No WebGPU adapter matches WGC_ADAPTER/--adapter "${byName}": ${e.message}`);
    }
    throw e;
  }
}
