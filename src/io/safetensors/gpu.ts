import type { Hardware } from '../../gpu/hardware.js';
import type { DType } from '../../gpu/dtype.js';
import { Tensor } from '../../gpu/tensor.js';
import { castToF32 } from '../../gpu/kernels/elementwise.js';
import { CheckpointError } from '../errors.js';
import { bytesToF32 } from './convert.js';
import type { SafetensorsDType } from './dtype.js';
import type { TensorStore } from './reader.js';
import type { TensorInfo } from './header.js';

const GPU_DTYPE: Partial<Record<SafetensorsDType, DType>> = {
  F32: 'f32', F16: 'f16', BF16: 'bf16', I32: 'i32', U32: 'u32', I8: 'i8', U8: 'u8', BOOL: 'u8', F8_E4M3: 'f8_e4m3',
};

/** The GPU tensor dtype a safetensors dtype uploads as without conversion, if any. */
export function gpuDTypeOf(dtype: SafetensorsDType): DType | undefined {
  return GPU_DTYPE[dtype];
}

/**
 * Uploads one checkpoint tensor to the GPU in its own dtype (F32, F16, BF16,
 * I32, U32, I8, U8, BOOL as u8, F8_E4M3). Other dtypes are a CheckpointError;
 * use {@link loadTensorF32} for those.
 */
export async function loadTensor(hw: Hardware, store: TensorStore, name: string): Promise<Tensor> {
  const info = store.info(name);
  const dtype = GPU_DTYPE[info.dtype];
  if (!dtype) throw new CheckpointError(info.file, `dtype ${info.dtype} has no GPU tensor type; use loadTensorF32`, { tensor: name });
  return Tensor.fromData(hw, await store.readTensor(name), info.shape, dtype);
}

/**
 * Loads one checkpoint tensor onto the GPU as f32. F16 and BF16 are uploaded
 * as they are and widened by the `castToF32` kernel (half the upload of a
 * CPU conversion); F32 is uploaded directly; every other dtype is converted
 * on the CPU first (see `bytesToF32`).
 */
export async function loadTensorF32(hw: Hardware, store: TensorStore, name: string): Promise<Tensor> {
  const info = store.info(name);
  const staged = await loadStaged(hw, store, info);
  if (staged) return staged;
  const bytes = await store.readTensor(name);
  if (info.dtype === 'F32') return Tensor.fromData(hw, bytes, info.shape, 'f32');
  if (info.dtype === 'F16' || info.dtype === 'BF16') {
    const half = Tensor.fromData(hw, bytes, info.shape, info.dtype === 'F16' ? 'f16' : 'bf16');
    try {
      return castToF32(hw, half);
    } catch {
      // castToF32 refuses chunked tensors whose chunks split a u32 word (odd rows); widen on the CPU instead.
    } finally {
      half.dispose();
    }
  }
  return Tensor.fromData(hw, bytesToF32(info.dtype, bytes), info.shape, 'f32');
}

/**
 * An F16/BF16/F32 tensor read from its file straight into a mapped upload
 * staging range and widened on the GPU: no host buffer of its own (fresh
 * host memory costs page faults that dominate loading on a CPU adapter in a
 * VM). Null where staging does not apply (small, odd-sized or chunked).
 */
async function loadStaged(hw: Hardware, store: TensorStore, info: TensorInfo): Promise<Tensor | null> {
  const dtype = GPU_DTYPE[info.dtype];
  if (dtype !== 'f32' && dtype !== 'f16' && dtype !== 'bf16') return null;
  const upload = hw.batcher.stageUpload(info.byteLength);
  if (!upload) return null;
  const t = Tensor.empty(hw, info.shape, dtype);
  if (t.isChunked || t.byteLength !== info.byteLength) {
    upload.abandon();
    t.dispose();
    return null;
  }
  try {
    await store.readTensorInto(info.name, upload.bytes);
  } catch (e) {
    upload.abandon();
    t.dispose();
    throw e;
  }
  upload.commit(t.buffer, 0);
  if (dtype === 'f32') return t;
  try {
    return castToF32(hw, t);
  } finally {
    t.dispose();
  }
}
