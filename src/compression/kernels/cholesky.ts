import type { Hardware } from '../../gpu/hardware.js';
import { Tensor } from '../../gpu/tensor.js';
import { HESSIAN_TILE as NB, chunkOfRow, overlap, squareMatrix } from './square.js';

interface CholeskyUniforms {
  np: number;
  rowStart?: number;
  rows?: number;
  k?: number;
  rev: number;
  lo?: number;
  count?: number;
  mode?: number;
}

function uniforms(u: CholeskyUniforms): Record<string, number> {
  return { rowStart: 0, rows: 0, k: 0, lo: 0, count: 0, mode: 0, ...u };
}

/** Workspace shared by the factorisation and the inverse of one matrix. */
export interface CholeskyWorkspace {
  /** f32 [np/NB, NB, NB]: inverses of the diagonal blocks of L. */
  dinv: Tensor;
  /** u32 [4]: status[0] = first failing (logical) column + 1, 0 when the factorisation succeeded. */
  status: Tensor;
}

export function createCholeskyWorkspace(hw: Hardware, np: number): CholeskyWorkspace {
  const status = Tensor.empty(hw, [4], 'u32');
  hw.batcher.clear(status.buffer, 0, 16);
  return { dinv: Tensor.empty(hw, [np / NB, NB, NB], 'f32'), status };
}

/** Physical rows of logical block row k. */
function blockRows(np: number, k: number, rev: boolean): number {
  return rev ? np - (k + 1) * NB : k * NB;
}

/** Logical rows [lo, hi) held by chunk physical rows [rs, rs + rows). */
function logicalRange(np: number, rs: number, rows: number, rev: boolean): [number, number] {
  return rev ? [np - rs - rows, np - rs] : [rs, rs + rows];
}

/**
 * In-place blocked lower Cholesky factorisation of the [np, np] matrix `a`,
 * reading its logical lower triangle. With `reversed`, logical (i, j) is
 * physical (np−1−i, np−1−j): the physical upper triangle is read and the
 * factor of J·A·J is produced (see shaders/cholesky.wgsl). A non-positive
 * pivot is recorded in `ws.status` on the GPU; nothing is read back here.
 */
export function choleskyInPlace(hw: Hardware, a: Tensor, ws: CholeskyWorkspace, reversed: boolean): void {
  const np = a.shape[0];
  const rev = reversed ? 1 : 0;
  const nt = np / NB;
  const diagK = hw.kernels.get({ shader: 'cholesky', entryPoint: 'factorDiagonal' });
  const panelK = hw.kernels.get({ shader: 'cholesky', entryPoint: 'panelSolve' });
  const updateK = hw.kernels.get({ shader: 'cholesky', entryPoint: 'trailingUpdate' });
  const panel = Tensor.empty(hw, [np, NB], 'f32');
  for (let k = 0; k < nt; k++) {
    const dc = chunkOfRow(a, blockRows(np, k, reversed));
    diagK.run(hw.batcher, {
      bindings: { a: dc.buffer, dinv: ws.dinv.buffer, status: ws.status.buffer },
      uniforms: uniforms({ np, rowStart: dc.rowStart, rows: dc.rows, k, rev }),
      workgroups: 1,
    });
    if (k === nt - 1) break;
    for (const c of a.chunks) {
      const [l0, l1] = logicalRange(np, c.rowStart, c.rows, reversed);
      const [lo, count] = overlap(l0, l1, (k + 1) * NB, np);
      if (count === 0) continue;
      panelK.run(hw.batcher, {
        bindings: { a: c.buffer, dinv: ws.dinv.buffer, panel: panel.buffer },
        uniforms: uniforms({ np, rowStart: c.rowStart, rows: c.rows, k, rev, lo, count }),
        workgroups: Math.ceil(count / 64),
      });
    }
    for (const c of a.chunks) {
      const [l0, l1] = logicalRange(np, c.rowStart, c.rows, reversed);
      const [lo, count] = overlap(l0 / NB, l1 / NB, k + 1, nt);
      if (count === 0) continue;
      updateK.run(hw.batcher, {
        bindings: { a4: c.buffer, panel: panel.buffer },
        uniforms: uniforms({ np, rowStart: c.rowStart, rows: c.rows, k, rev, lo, count }),
        workgroups: count * (nt - k - 1),
      });
    }
  }
  panel.dispose();
}

/**
 * X = L⁻¹ for the factor `l` left by {@link choleskyInPlace} (same
 * `reversed`), into `x` (same shape and chunking, overwritten). Reversed,
 * `x` ends up holding U = J·L⁻¹·J, upper triangular, in physical order.
 */
export function invertLower(hw: Hardware, l: Tensor, x: Tensor, ws: CholeskyWorkspace, reversed: boolean): void {
  const np = l.shape[0];
  const rev = reversed ? 1 : 0;
  const nt = np / NB;
  if (x.chunks.length !== l.chunks.length || x.chunks.some((c, i) => c.rows !== l.chunks[i].rows)) {
    throw new Error('invertLower: the output must be chunked like the factor');
  }
  setIdentity(hw, x, ws, false);
  const solveK = hw.kernels.get({ shader: 'cholesky', entryPoint: 'inverseRowSolve' });
  const updateK = hw.kernels.get({ shader: 'cholesky', entryPoint: 'inverseUpdate' });
  const rowblk = Tensor.empty(hw, [NB, np], 'f32');
  for (let k = 0; k < nt; k++) {
    const xc = chunkOfRow(x, blockRows(np, k, reversed));
    solveK.run(hw.batcher, {
      bindings: { x: xc.buffer, dinv: ws.dinv.buffer, rowblk: rowblk.buffer },
      uniforms: uniforms({ np, rowStart: xc.rowStart, rows: xc.rows, k, rev }),
      workgroups: Math.ceil(((k + 1) * NB) / 64),
    });
    if (k === nt - 1) break;
    x.chunks.forEach((c, ci) => {
      const [l0, l1] = logicalRange(np, c.rowStart, c.rows, reversed);
      const [lo, count] = overlap(l0 / NB, l1 / NB, k + 1, nt);
      if (count === 0) return;
      updateK.run(hw.batcher, {
        bindings: { a: l.chunks[ci].buffer, x4: c.buffer, rowblk: rowblk.buffer },
        uniforms: uniforms({ np, rowStart: c.rowStart, rows: c.rows, k, rev, lo, count }),
        workgroups: count * (k + 1),
      });
    });
  }
  rowblk.dispose();
}

/** x = I; with `onlyIfFailed`, only when `ws.status` reports a failed factorisation (the RTN fallback). */
export function setIdentity(hw: Hardware, x: Tensor, ws: CholeskyWorkspace, onlyIfFailed: boolean): void {
  const np = x.shape[1];
  const k = hw.kernels.get({ shader: 'cholesky', entryPoint: 'setIdentity' });
  for (const c of x.chunks) {
    k.run(hw.batcher, {
      bindings: { x: c.buffer, status: ws.status.buffer },
      uniforms: uniforms({ np, rowStart: c.rowStart, rows: c.rows, rev: 0, mode: onlyIfFailed ? 1 : 0 }),
      workgroups: Math.ceil((c.rows * np) / 256),
    });
  }
}

/**
 * U with UᵀU = A⁻¹ (upper, physical order) for the symmetric positive
 * definite `a` given by its upper triangle; `a` is overwritten by the
 * reversed factor. On a failed factorisation U is the identity and
 * `ws.status[0]` is non-zero (read it when convenient).
 */
export function inverseUpperFactor(hw: Hardware, a: Tensor, ws: CholeskyWorkspace, maxChunkBytes?: number): Tensor {
  const np = a.shape[0];
  choleskyInPlace(hw, a, ws, true);
  const u = squareMatrixLike(hw, a, np, maxChunkBytes);
  invertLower(hw, a, u, ws, true);
  setIdentity(hw, u, ws, true);
  return u;
}

function squareMatrixLike(hw: Hardware, like: Tensor, np: number, maxChunkBytes?: number): Tensor {
  const t = squareMatrix(hw, np, maxChunkBytes);
  if (t.chunks.length !== like.chunks.length) throw new Error('inverseUpperFactor: pass the same maxChunkBytes the matrix was created with');
  return t;
}
