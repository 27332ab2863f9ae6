// Page entry of the browser smoke test (test/browser/smoke.test.ts). It uses
// only the browser-safe core, so bundling it also proves that src/index.ts
// pulls in no Node-only module.
import { acquireBrowserHardware, Tensor, castToF32, type AdapterSummary } from '../../../src/index.js';

/** What the page hands back to the test; plain data so it crosses page.evaluate. */
export interface CastResult {
  adapter: AdapterSummary;
  features: string[];
  /** Output f32 words as raw bits, so NaN poison survives the trip. */
  bits: number[];
  /** The cast's output took the NaN-filled buffer from the pool (poisoned output). */
  poisonReused: boolean;
  validationError: string | null;
  ms: number;
}

declare global {
  interface Window {
    wgcCastF16(halves: number[]): Promise<CastResult>;
  }
}

window.wgcCastF16 = async (halves: number[]): Promise<CastResult> => {
  const t0 = performance.now();
  const hw = await acquireBrowserHardware();
  try {
    hw.device.pushErrorScope('validation');
    const n = halves.length;
    // Poison the output: a NaN-filled f32 tensor of the output's size returns
    // to the pool after the submit, and the cast's output is served from it.
    const poison = Tensor.fromData(hw, new Float32Array(n).fill(NaN), [n], 'f32');
    const poisonBuffer = poison.buffer;
    poison.dispose();
    hw.batcher.flush();
    const input = Tensor.fromData(hw, Uint16Array.from(halves), [n], 'f16');
    const out = castToF32(hw, input);
    const poisonReused = out.buffer === poisonBuffer;
    const got = await out.readF32();
    input.dispose();
    out.dispose();
    hw.batcher.flush();
    const err = await hw.device.popErrorScope();
    return {
      adapter: hw.info,
      features: [...hw.features].sort(),
      bits: Array.from(new Uint32Array(got.buffer, got.byteOffset, got.length)),
      poisonReused,
      validationError: err ? err.message : null,
      ms: performance.now() - t0,
    };
  } finally {
    await hw.destroy();
  }
};
