import { type SafetensorsDType, typedView } from './dtype.js';
import { bf16ArrayToF32, f16ArrayToF32, fp8E4M3ArrayToF32, fp8E5M2ArrayToF32 } from '../numeric/float.js';

/**
 * Converts tensor bytes of any safetensors dtype to f32 on the CPU: exact for
 * F16, BF16, FP8 and small integers; F64 and 64-bit integers are rounded to
 * the nearest f32; BOOL gives 0/1.
 */
export function bytesToF32(dtype: SafetensorsDType, bytes: Uint8Array): Float32Array {
  switch (dtype) {
    case 'F32':
      return typedView('F32', bytes).slice();
    case 'F16':
      return f16ArrayToF32(typedView('F16', bytes));
    case 'BF16':
      return bf16ArrayToF32(typedView('BF16', bytes));
    case 'F8_E4M3':
      return fp8E4M3ArrayToF32(bytes);
    case 'F8_E5M2':
      return fp8E5M2ArrayToF32(bytes);
    case 'BOOL': {
      const out = new Float32Array(bytes.length);
      for (let i = 0; i < bytes.length; i++) out[i] = bytes[i] ? 1 : 0;
      return out;
    }
    case 'I64':
    case 'U64': {
      const src = typedView(dtype, bytes);
      const out = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = Number(src[i]);
      return out;
    }
    default:
      return Float32Array.from(typedView(dtype, bytes) as ArrayLike<number>);
  }
}
