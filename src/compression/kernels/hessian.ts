import type { Hardware } from '../../gpu/hardware.js';
import { Tensor } from '../../gpu/tensor.js';
import { HESSIAN_TILE, paddedSize, squareMatrix } from './square.js';

const WG = 256;

interface HessianUniforms {
  n: number;
  np: number;
  rowStart?: number;
  rows?: number;
  tokens?: number;
  tileRowStart?: number;
  tileRows?: number;
  fix?: number;
  alpha?: number;
  beta?: number;
  dampFrac?: number;
  srcRowStart?: number;
  srcRows?: number;
}

function uniforms(u: HessianUniforms): Record<string, number> {
  return {
    rowStart: 0, rows: 0, tokens: 0, tileRowStart: 0, tileRows: 0, fix: 0, alpha: 1, beta: 1, dampFrac: 0, srcRowStart: 0, srcRows: 0,
    _p0: 0, _p1: 0, _p2: 0, ...u,
  };
}

function kernel(hw: Hardware, entryPoint: string) {
  return hw.kernels.get({ shader: 'hessian', entryPoint, constants: entryPoint === 'hessianAccumulate' ? undefined : { WG } });
}

/** A zeroed Hessian accumulator for a Linear with `n` input features ([np, np], see squareMatrix). */
export function createHessian(hw: Hardware, n: number, maxChunkBytes?: number): Tensor {
  return squareMatrix(hw, paddedSize(n), maxChunkBytes);
}

function checkInputs(x: Tensor, n: number, what: string): void {
  if (x.dtype !== 'f32' || x.shape.length !== 2 || x.shape[1] !== n) {
    throw new Error(`${what}: inputs must be f32 [tokens, ${n}], got ${x.dtype} [${x.shape.join(', ')}]`);
  }
}

/**
 * H ← alpha·H + beta·XᵀX on the tiles on and above the diagonal, for X
 * [tokens, n] (any number of row chunks). GPTQ accumulates with alpha = 1,
 * beta = 2 and divides by the sample count at the end (`hessianScale`);
 * SparseGPT keeps the running average: alpha = s/(s+k), beta = 2/(s+k).
 */
export function hessianAccumulate(hw: Hardware, h: Tensor, n: number, x: Tensor, alpha: number, beta: number): void {
  checkInputs(x, n, 'hessianAccumulate');
  const np = paddedSize(n);
  if (h.shape[0] !== np || h.shape[1] !== np) throw new Error(`hessianAccumulate: H must be [${np}, ${np}] for n=${n}`);
  const k = kernel(hw, 'hessianAccumulate');
  const nt = np / HESSIAN_TILE;
  x.chunks.forEach((xc, xi) => {
    if (xc.rows === 0) return;
    for (const hc of h.chunks) {
      const tileRows = hc.rows / HESSIAN_TILE;
      k.run(hw.batcher, {
        bindings: { x: xc.buffer, h4: hc.buffer },
        uniforms: uniforms({ n, np, rowStart: hc.rowStart, rows: hc.rows, tokens: xc.rows, tileRowStart: hc.rowStart / HESSIAN_TILE, tileRows, alpha: xi === 0 ? alpha : 1, beta }),
        workgroups: tileRows * nt,
      });
    }
  });
}

/** S ← alpha·S + beta·Σ_t X[t,j]² (Wanda's running mean: alpha = s/(s+k), beta = 1/(s+k)). */
export function columnSquareNormsAccumulate(hw: Hardware, s: Tensor, n: number, x: Tensor, alpha: number, beta: number): void {
  checkInputs(x, n, 'columnSquareNormsAccumulate');
  if (s.numel !== n || s.dtype !== 'f32') throw new Error(`columnSquareNormsAccumulate: S must be f32 [${n}]`);
  const k = kernel(hw, 'columnSquareNorms');
  x.chunks.forEach((xc, xi) => {
    if (xc.rows === 0) return;
    k.run(hw.batcher, {
      bindings: { x: xc.buffer, colSq: s.buffer },
      uniforms: uniforms({ n, np: paddedSize(n), tokens: xc.rows, alpha: xi === 0 ? alpha : 1, beta }),
      workgroups: Math.ceil(n / WG),
    });
  });
}

/** H ← factor·H (GPTQ's H / num_samples). */
export function hessianScale(hw: Hardware, h: Tensor, factor: number): void {
  const np = h.shape[1];
  const k = kernel(hw, 'hessianScale');
  for (const c of h.chunks) {
    k.run(hw.batcher, {
      bindings: { h4: c.buffer },
      uniforms: uniforms({ n: np, np, rowStart: c.rowStart, rows: c.rows, alpha: factor }),
      workgroups: Math.ceil((c.rows * np) / 4 / WG),
    });
  }
}

/** Buffers the preparation steps share: diag(H), dead flags, damp. */
export interface HessianDiagonal {
  /** f32 [np]: diag(H) as last recorded. */
  diag: Tensor;
  /** u32 [np]: 1 where the column is dead (diag 0), after `fixDiagonal`. */
  dead: Tensor;
  /** f32 [4]: stats[0] = damp. */
  stats: Tensor;
}

export function createDiagonal(hw: Hardware, np: number): HessianDiagonal {
  const d = { diag: Tensor.empty(hw, [np], 'f32'), dead: Tensor.empty(hw, [np], 'u32'), stats: Tensor.empty(hw, [4], 'f32') };
  hw.batcher.clear(d.dead.buffer, 0, d.dead.chunks[0].byteLength);
  return d;
}

/** Records diag(H); with `fix` also applies the dead-column rule and the padding identity. */
export function recordDiagonal(hw: Hardware, h: Tensor, n: number, d: HessianDiagonal, fix: boolean): void {
  const np = paddedSize(n);
  const k = kernel(hw, 'hessianDiagonal');
  for (const c of h.chunks) {
    k.run(hw.batcher, {
      bindings: { h: c.buffer, diag: d.diag.buffer, dead: d.dead.buffer },
      uniforms: uniforms({ n, np, rowStart: c.rowStart, rows: c.rows, fix: fix ? 1 : 0 }),
      workgroups: Math.ceil(c.rows / WG),
    });
  }
}

/** H[i,i] += dampFrac·mean(diag) over the real columns (after `recordDiagonal(fix)`). */
export function dampen(hw: Hardware, h: Tensor, n: number, d: HessianDiagonal, dampFrac: number): void {
  const np = paddedSize(n);
  kernel(hw, 'dampening').run(hw.batcher, {
    bindings: { diag: d.diag.buffer, stats: d.stats.buffer },
    uniforms: uniforms({ n, np, dampFrac }),
    workgroups: 1,
  });
  const k = kernel(hw, 'addDampening');
  for (const c of h.chunks) {
    k.run(hw.batcher, {
      bindings: { h: c.buffer, stats: d.stats.buffer },
      uniforms: uniforms({ n, np, rowStart: c.rowStart, rows: c.rows }),
      workgroups: Math.ceil(c.rows / WG),
    });
  }
}

/**
 * llm-compressor's activation order from the recorded diagonal: perm (u32
 * [np]) lists the columns by descending diag(H), ties in index order.
 */
export function activationOrder(hw: Hardware, n: number, d: HessianDiagonal): Tensor {
  const np = paddedSize(n);
  const perm = Tensor.empty(hw, [np], 'u32');
  kernel(hw, 'activationOrder').run(hw.batcher, {
    bindings: { diag: d.diag.buffer, perm: perm.buffer },
    uniforms: uniforms({ n, np }),
    workgroups: Math.ceil(np / WG),
  });
  return perm;
}

/** dst[a, b] = src[perm a, perm b] on and above the diagonal (src read from its upper triangle). */
export function permuteHessian(hw: Hardware, src: Tensor, dst: Tensor, perm: Tensor): void {
  const np = src.shape[1];
  const k = kernel(hw, 'gatherSymmetric');
  for (const dc of dst.chunks) {
    for (const sc of src.chunks) {
      k.run(hw.batcher, {
        bindings: { h: dc.buffer, src: sc.buffer, perm: perm.buffer },
        uniforms: uniforms({ n: np, np, rowStart: dc.rowStart, rows: dc.rows, srcRowStart: sc.rowStart, srcRows: sc.rows }),
        workgroups: Math.ceil((dc.rows * np) / WG),
      });
    }
  }
}
