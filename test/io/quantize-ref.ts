/**
 * Test-only CPU reference of compressed-tensors' quantization math
 * (compressed-tensors.md §4), in f32 like torch: it produces realistic codes,
 * scales and zero points for the writer's round-trip tests. The production
 * quantizer is another module's job; this one is short and obvious on purpose.
 */
import type { QuantizationArgs } from '../../src/io/compressed/args.js';
import { weightScaleShape } from '../../src/io/compressed/layout.js';
import { f32ToFp8E4M3, fp8E4M3ToF32, roundHalfEven } from '../../src/io/numeric/float.js';
import { encodeFp4 } from '../../src/io/numeric/fp4.js';
import type { QuantizedLayer } from '../../src/io/compressed/writer.js';

const fr = Math.fround;

function rne(x: number): number {
  return x < 0 ? -roundHalfEven(-x) : roundHalfEven(x);
}

/** Index of the scale group of element (r, c). */
function groupOf(args: QuantizationArgs, shape: [number, number], r: number, c: number, gIdx?: Int32Array): number {
  const s = weightScaleShape(args, shape);
  const cols = s.length === 2 ? s[1] : 1;
  switch (args.strategy) {
    case 'tensor': return 0;
    case 'channel': return r;
    case 'block': {
      const [bh, bw] = args.block_structure as [number, number];
      return Math.floor(r / bh) * cols + Math.floor(c / bw);
    }
    default: return r * cols + (gIdx ? gIdx[c] : Math.floor(c / (args.group_size as number)));
  }
}

function minMaxPerGroup(w: Float32Array, args: QuantizationArgs, shape: [number, number], gIdx?: Int32Array) {
  const n = weightScaleShape(args, shape).reduce((a, b) => a * b, 1);
  const mn = new Float32Array(n).fill(Infinity);
  const mx = new Float32Array(n).fill(-Infinity);
  for (let r = 0; r < shape[0]; r++) {
    for (let c = 0; c < shape[1]; c++) {
      const g = groupOf(args, shape, r, c, gIdx);
      const v = w[r * shape[1] + c];
      if (v < mn[g]) mn[g] = v;
      if (v > mx[g]) mx[g] = v;
    }
  }
  return { mn, mx };
}

/** Quantized data for one layer plus the codes' reference dequantization. */
export interface RefQuantized {
  layer: Omit<QuantizedLayer, 'module' | 'group'>;
  /** (q - zp) * s per element, in f32. */
  dequant: Float32Array;
}

/** int / fp8 / fp4 weight quantization per §4.2–§4.6. */
export function quantizeRef(w: Float32Array, shape: [number, number], args: QuantizationArgs, gIdx?: Int32Array, roundScale: (x: number) => number = (x) => x, sharedGlobalScale?: number): RefQuantized {
  const [o, i] = shape;
  const { mn, mx } = minMaxPerGroup(w, args, shape, gIdx);
  const n = mn.length;
  const scale = new Float32Array(n);
  const zp = new Int8Array(n);
  const isFp4 = args.type === 'float' && args.num_bits === 4;
  const isFp8 = args.type === 'float' && args.num_bits === 8;
  const qmax = isFp4 ? 6 : isFp8 ? 448 : 2 ** (args.num_bits - 1) - 1;
  const qmin = -qmax - (args.type === 'int' ? 1 : 0);
  let global: number | undefined;
  if (isFp4 && sharedGlobalScale !== undefined) global = sharedGlobalScale;
  else if (isFp4) {
    let amax = 0;
    for (let k = 0; k < w.length; k++) amax = Math.max(amax, Math.abs(w[k]));
    global = fr(fr(448 * 6) / fr(amax));
  }
  for (let g = 0; g < n; g++) {
    const lo = fr(Math.min(mn[g], 0));
    const hi = fr(Math.max(mx[g], 0));
    if (args.symmetric) {
      const amax = fr(Math.max(Math.abs(lo), Math.abs(hi)));
      let s = fr(amax / fr((qmax - qmin) / 2));
      if (isFp4) s = fp8E4M3ToF32(f32ToFp8E4M3(fr(global as number) * s)); // local scale stored in FP8, times global
      scale[g] = isFp4 ? (s === 0 ? 0.25 : s) : roundScale(s === 0 ? 1.1920928955078125e-7 : s);
    } else {
      let s = fr(fr(hi - lo) / (qmax - qmin));
      if (s === 0) s = 1.1920928955078125e-7;
      s = roundScale(s);
      scale[g] = s;
      zp[g] = rne(Math.min(qmax, Math.max(qmin, fr(qmin - fr(lo / s)))));
    }
  }
  const sEff = isFp4 ? scale.map((s) => fr(s / (global as number))) : scale;
  const codes = isFp8 || isFp4 ? new Uint8Array(o * i) : new Int8Array(o * i);
  const dequant = new Float32Array(o * i);
  for (let r = 0; r < o; r++) {
    for (let c = 0; c < i; c++) {
      const k = r * i + c;
      const g = groupOf(args, shape, r, c, gIdx);
      let t = fr(w[k] / sEff[g]);
      if (!args.symmetric) t = fr(t + zp[g]);
      t = Math.min(qmax, Math.max(qmin, t));
      if (isFp8) {
        codes[k] = f32ToFp8E4M3(t);
        dequant[k] = fr(fp8E4M3ToF32(codes[k]) * sEff[g]);
      } else if (isFp4) {
        codes[k] = encodeFp4(t);
        const v = [0, 0.5, 1, 1.5, 2, 3, 4, 6][codes[k] & 7] * (codes[k] & 8 ? -1 : 1);
        dequant[k] = fr(v * sEff[g]);
      } else {
        const q = rne(t);
        codes[k] = q;
        dequant[k] = fr((codes[k] - zp[g]) * sEff[g]); // codes[k], not q: int8 storage has no -0
      }
    }
  }
  const layer: RefQuantized['layer'] = {
    shape,
    weight: codes,
    weightScale: scale,
    ...(args.symmetric ? {} : { weightZeroPoint: zp }),
    ...(gIdx ? { weightGIdx: gIdx } : {}),
    ...(global !== undefined ? { weightGlobalScale: Float32Array.of(global) } : {}),
  };
  return { layer, dequant };
}

/** NVFP4 global scale 448·6/amax over several tensors (fused q/k/v or gate/up share one, §4.6). */
export function sharedNvfp4GlobalScale(...ws: Float32Array[]): number {
  let amax = 0;
  for (const w of ws) for (let k = 0; k < w.length; k++) amax = Math.max(amax, Math.abs(w[k]));
  return Math.fround(Math.fround(448 * 6) / Math.fround(amax));
}
