/** Workgroup grid for a dispatch: x, y, z counts. */
export type WorkgroupGrid = [number, number, number];

/**
 * Folds a linear workgroup count into a grid whose dimensions each stay within
 * `maxPerDim` (65535 by default in WebGPU). Kernels rebuild the linear index as
 * `wid.x + wid.y * nwg.x + wid.z * nwg.x * nwg.y` and skip indices past the
 * real count, which they receive as a uniform.
 */
export function foldWorkgroups(count: number, maxPerDim = 65535): WorkgroupGrid {
  if (!Number.isInteger(count) || count < 0) throw new Error(`workgroup count must be a non-negative integer, got ${count}`);
  if (count <= maxPerDim) return [count, 1, 1];
  const y = Math.ceil(count / maxPerDim);
  if (y <= maxPerDim) {
    const x = Math.ceil(count / y);
    return [x, y, 1];
  }
  const z = Math.ceil(count / (maxPerDim * maxPerDim));
  if (z > maxPerDim) throw new Error(`workgroup count ${count} exceeds ${maxPerDim}^3`);
  const perZ = Math.ceil(count / z);
  const y2 = Math.ceil(perZ / maxPerDim);
  const x2 = Math.ceil(perZ / y2);
  return [x2, y2, z];
}
