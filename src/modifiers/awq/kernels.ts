/**
 * Dispatch wrappers of shaders/awq.wgsl: the squared error between two
 * outputs (and the inf/NaN count of one), reduced in a fixed order so the
 * search is deterministic.
 */
import type { Hardware } from '../../gpu/hardware.js';
import type { Tensor } from '../../gpu/tensor.js';

const WG = 256;
/** vec4s each workgroup of `sumSquaredDiff` reduces (8 per invocation). */
const DIFF_VEC4_PER_GROUP = WG * 8;

/**
 * Accumulates Σ (a − b)² of output pairs as partial sums in a fixed order,
 * and folds them into one value per loss slot. One accumulator serves one
 * loss at a time: `add` the pairs, then `foldInto` a slot (which resets it).
 */
export class SquaredErrorSum {
  private part: GPUBuffer | undefined;
  private capacity = 0;
  private used = 0;

  constructor(private readonly hw: Hardware) {}

  /** Records Σ (a − b)² of two equal-shape f32 tensors (element count a multiple of 4, unchunked). */
  add(a: Tensor, b: Tensor): void {
    if (a.dtype !== 'f32' || b.dtype !== 'f32' || a.numel !== b.numel || a.shape.some((d, i) => d !== b.shape[i])) {
      throw new Error(`squared error of [${a.shape.join(', ')}] ${a.dtype} and [${b.shape.join(', ')}] ${b.dtype}: shapes or dtypes differ`);
    }
    if (a.numel % 4 !== 0) throw new Error(`squared error: ${a.numel} elements is not a multiple of 4`);
    if (a.isChunked || b.isChunked) throw new Error('squared error: outputs larger than one binding are not supported');
    this.dispatch('sumSquaredDiff', a, b);
  }

  private dispatch(entryPoint: 'sumSquaredDiff' | 'countNonFinite', a: Tensor, b: Tensor): void {
    if (a.numel % 4 !== 0 || a.isChunked) throw new Error(`${entryPoint}: [${a.shape.join(', ')}] must be one binding of a multiple of 4 elements`);
    const count4 = a.numel / 4;
    if (count4 === 0) return;
    const nWork = Math.ceil(count4 / DIFF_VEC4_PER_GROUP);
    this.reserve(this.used + nWork);
    const kernel = this.hw.kernels.get({ shader: 'awq', entryPoint });
    const bindings: Record<string, { buffer: GPUBuffer; size: number } | GPUBuffer> = { ya: { buffer: a.buffer, size: a.byteLength }, sq: this.part! };
    if (entryPoint === 'sumSquaredDiff') bindings.yb = { buffer: b.buffer, size: b.byteLength };
    kernel.run(this.hw.batcher, {
      bindings,
      uniforms: { count4, perGroup4: DIFF_VEC4_PER_GROUP, partBase: this.used, nWork },
      workgroups: nWork,
    });
    this.used += nWork;
  }

  /** Records the number of inf/NaN elements of `a` (instead of a squared error). */
  addNonFinite(a: Tensor): void {
    this.dispatch('countNonFinite', a, a);
  }

  /** Writes the sum of everything added since the last fold into element `index` of `out`, and starts over. */
  foldInto(out: GPUBuffer, index: number): void {
    if (this.used === 0) {
      this.hw.batcher.clear(out, index * 4, 4);
      return;
    }
    const kernel = this.hw.kernels.get({ shader: 'awq', entryPoint: 'foldSum' });
    kernel.run(this.hw.batcher, {
      bindings: { terms: { buffer: this.part!, size: this.used * 4 }, total: out },
      uniforms: { n: this.used, outIndex: index, _p0: 0, _p1: 0 },
      workgroups: 1,
    });
    this.used = 0;
  }

  private reserve(n: number): void {
    if (n <= this.capacity) return;
    // Grown copies keep the partials already recorded.
    const cap = Math.max(n, 2 * this.capacity, 64);
    const next = this.hw.pool.acquire(cap * 4, undefined, 'wgc-awq-loss-partials');
    if (this.part) {
      if (this.used > 0) this.hw.batcher.copy(this.part, 0, next, 0, this.used * 4);
      this.hw.pool.releaseAfterSubmit(this.part);
    }
    this.part = next;
    this.capacity = cap;
  }

  dispose(): void {
    if (this.part) this.hw.pool.releaseAfterSubmit(this.part);
    this.part = undefined;
    this.capacity = 0;
    this.used = 0;
  }
}
