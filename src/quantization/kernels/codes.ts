/**
 * Dispatch of shaders/codes.wgsl: codes of an on-grid weight from given
 * qparams (the checkpoint writer's input for GPTQ-quantized Linears), and
 * exact-zero counts (sparsity of pruned weights).
 */
import type { Hardware } from '../../gpu/hardware.js';
import type { BufferSlice } from '../../gpu/kernel.js';
import { Tensor } from '../../gpu/tensor.js';
import type { ComputeDtype } from '../numerics.js';

const WG = 256;

/** The qparams a weight was quantized with and how its elements map to them. */
export interface GivenQParams {
  /** 0 int (signed code byte), 1 FP8 E4M3 byte, 2 FP4 E2M1 code. */
  readonly qtype: 0 | 1 | 2;
  readonly qmin: number;
  readonly qmax: number;
  /** f32 stored scales, one per scale group, row-major. */
  readonly scale: BufferSlice;
  /** i32 zero points like the scales (asymmetric only). */
  readonly zeroPoint: BufferSlice | null;
  /** i32 [cols] scale column per input column (actorder group). */
  readonly gIdx: BufferSlice | null;
  /** f32 [1] NVFP4 global scale: s_eff = scale / global_scale. */
  readonly globalScale: BufferSlice | null;
  /** Rows sharing a scale row (1 channel/group, block rows, all rows for tensor). */
  readonly rowsPerScale: number;
  /** Scale columns per scale row. */
  readonly scaleCols: number;
  /** Input columns per scale column; 0 when there is one scale column. */
  readonly divisor: number;
  /** dtype torch computes x / scale in (the model's). */
  readonly dtype: ComputeDtype;
}

const DT: Record<ComputeDtype, number> = { f32: 0, f16: 1, bf16: 2 };

/**
 * Records the code derivation for `weight` (f32 [rows, cols], possibly
 * chunked by rows): one u32 tensor per chunk holding its `rows·cols` code
 * bytes, row-major. The caller reads and disposes them.
 */
export function deriveCodes(hw: Hardware, weight: Tensor, q: GivenQParams): Tensor[] {
  if (weight.dtype !== 'f32' || weight.shape.length !== 2) throw new Error(`deriveCodes: expected a 2-D f32 weight, got [${weight.shape.join(', ')}] ${weight.dtype}`);
  const cols = weight.shape[1];
  const kernel = hw.kernels.get({ shader: 'codes', entryPoint: 'deriveCodes', constants: { WG, QTYPE: q.qtype } });
  const dummy = hw.pool.acquire(16, undefined, 'wgc-codes-dummy');
  const out: Tensor[] = [];
  for (const c of weight.chunks) {
    const nWords = Math.ceil((c.rows * cols) / 4);
    const codes = Tensor.empty(hw, [Math.max(1, nWords)], 'u32', { label: 'codes' });
    out.push(codes);
    if (nWords === 0) continue;
    kernel.run(hw.batcher, {
      bindings: {
        w: { buffer: c.buffer, size: c.byteLength },
        scale: q.scale,
        zp: q.zeroPoint ?? { buffer: dummy, size: 16 },
        gIdx: q.gIdx ?? { buffer: dummy, size: 16 },
        globalScale: q.globalScale ?? { buffer: dummy, size: 16 },
        codes: { buffer: codes.buffer, size: nWords * 4 },
      },
      uniforms: {
        rows: c.rows, cols, rowBase: c.rowStart, nWords, rowsPerScale: q.rowsPerScale, scaleCols: q.scaleCols, divisor: q.divisor,
        useGIdx: q.gIdx ? 1 : 0, qmin: q.qmin, qmax: q.qmax, tdt: DT[q.dtype], hasZp: q.zeroPoint ? 1 : 0, hasGlobal: q.globalScale ? 1 : 0,
        _p0: 0, _p1: 0, _p2: 0,
      },
      workgroups: Math.ceil(nWords / WG),
    });
  }
  hw.pool.releaseAfterSubmit(dummy);
  return out;
}

/** Adds the number of exact zeros (±0) of the f32 tensor `t` to `counts[slot]` (u32 words, cleared by the caller). */
export function countZeros(hw: Hardware, t: Tensor, counts: GPUBuffer, slot: number): void {
  if (t.dtype !== 'f32') throw new Error(`countZeros: expected an f32 tensor, got ${t.dtype}`);
  const kernel = hw.kernels.get({ shader: 'codes', entryPoint: 'countZeros', constants: { WG } });
  for (const c of t.chunks) {
    const count = c.rows * t.rowElems;
    if (count === 0) continue;
    kernel.run(hw.batcher, {
      bindings: { values: { buffer: c.buffer, size: c.byteLength }, counts },
      uniforms: { count, slot, _c0: 0, _c1: 0 },
      workgroups: Math.ceil(count / WG),
    });
  }
}
