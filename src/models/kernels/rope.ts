import type { Hardware } from '../../gpu/hardware.js';
import { Tensor } from '../../gpu/tensor.js';
import { ropeTable } from '../llama/rope.js';
import { f32Buffer } from './util.js';

const WG = 256;

/**
 * The GPU cos/sin table of one model's RoPE frequencies, grown on demand to
 * the longest position used (doubling, so a growing generation rebuilds it
 * O(log n) times).
 */
export class RopeTable {
  private tensor: Tensor | undefined;
  private length = 0;

  constructor(private readonly hw: Hardware, readonly invFreq: Float64Array) {}

  get headDim(): number {
    return this.invFreq.length * 2;
  }

  /** A table covering positions [0, positions); valid until the next call that grows it. */
  ensure(positions: number): { table: Tensor; length: number } {
    if (!this.tensor || positions > this.length) {
      const length = Math.max(positions, Math.min(2 * this.length, 1 << 20), 64);
      this.tensor?.dispose();
      this.tensor = Tensor.fromData(this.hw, ropeTable(this.invFreq, length), [2, length, this.invFreq.length], 'f32');
      this.length = length;
    }
    return { table: this.tensor, length: this.length };
  }

  dispose(): void {
    this.tensor?.dispose();
    this.tensor = undefined;
    this.length = 0;
  }
}

export interface RopeShape {
  /** Rows of q and k (batch · seqLen). */
  rows: number;
  qHeads: number;
  kHeads: number;
  /** Tokens per sequence: row r is at position posOffset + r % seqLen. */
  seqLen: number;
  posOffset?: number;
}

/** Rotates q [rows, qHeads, d] and k [rows, kHeads, d] in place (rotate_half pairing). */
export function applyRotaryQK(hw: Hardware, q: Tensor, k: Tensor, rope: RopeTable, shape: RopeShape): void {
  const half = rope.headDim / 2;
  const posOffset = shape.posOffset ?? 0;
  if (q.numel !== shape.rows * shape.qHeads * 2 * half) throw new Error(`applyRotaryQK: q [${q.shape.join(', ')}] is not [${shape.rows}, ${shape.qHeads}·${2 * half}]`);
  if (k.numel !== shape.rows * shape.kHeads * 2 * half) throw new Error(`applyRotaryQK: k [${k.shape.join(', ')}] is not [${shape.rows}, ${shape.kHeads}·${2 * half}]`);
  if (shape.rows % shape.seqLen !== 0) throw new Error(`applyRotaryQK: ${shape.rows} rows is not a whole number of sequences of ${shape.seqLen}`);
  const { table, length } = rope.ensure(posOffset + shape.seqLen);
  const count = shape.rows * (shape.qHeads + shape.kHeads) * half;
  hw.kernels.get({ shader: 'rope', entryPoint: 'ropeQK', constants: { WG } }).run(hw.batcher, {
    bindings: { q: f32Buffer(q, 'q', 'applyRotaryQK'), k: f32Buffer(k, 'k', 'applyRotaryQK'), table: table.buffer },
    uniforms: { rows: shape.rows, qHeads: shape.qHeads, kHeads: shape.kHeads, half, seqLen: shape.seqLen, posOffset, tableLen: length, count },
    workgroups: Math.ceil(count / WG),
  });
}
