/**
 * The bench's GPU: the same `Hardware` as `acquireHardware()`, except that
 * Dawn's timestamp quantization is turned off. Dawn rounds timestamps down
 * to 65.536 µs by default (a fingerprinting defence meant for browsers),
 * which is longer than a whole bandwidth-bound kernel on a current GPU
 * (a 256 MiB copy on an H200 takes about 60 µs). If Dawn refuses the
 * toggle, the bench falls back to `acquireHardware()` and the measure loop's
 * repetition of short work keeps the error small (see bench/measure.ts).
 */
import { create, globals } from 'webgpu';
import { Hardware } from '../src/gpu/hardware.js';
import { acquireHardware } from '../src/gpu/node/acquire.js';

/** Dawn toggles the bench asks for. */
export const BENCH_DAWN_FLAGS = ['disable-dawn-features=timestamp_quantization'];

/** A Hardware for benchmarking; `adapter` as in `acquireHardware` (a name Dawn matches, or a power preference). */
export async function acquireBenchHardware(adapter?: string): Promise<{ hw: Hardware; unquantizedTimestamps: boolean }> {
  if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = '/tmp';
  for (const [k, v] of Object.entries(globals)) {
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  }
  const choice = adapter ?? process.env.WGC_ADAPTER;
  const byName = choice && choice !== 'high-performance' && choice !== 'low-power' ? choice : undefined;
  try {
    const gpu = create([...BENCH_DAWN_FLAGS, ...(byName ? [`adapter=${byName}`] : [])]);
    const hw = await Hardware.fromGPU(gpu, { adapter: byName ? undefined : choice });
    return { hw, unquantizedTimestamps: true };
  } catch {
    return { hw: await acquireHardware({ adapter }), unquantizedTimestamps: false };
  }
}
