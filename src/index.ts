/**
 * webgpu-compressor: browser-safe public API. Node-only pieces (Dawn
 * acquisition, file-system sources) are exported from `webgpu-compressor/node`.
 */
export { Hardware, GpuError, type DeviceCaps, type AdapterSummary, type HardwareOptions } from './gpu/hardware.js';
export { acquireBrowserHardware } from './gpu/browser.js';
export { Tensor, type TensorChunk, type TensorOptions } from './gpu/tensor.js';
export { type DType, dtypeBytes } from './gpu/dtype.js';
export { Kernel, KernelRegistry, type KernelSpec, type DispatchArgs, type BufferSlice } from './gpu/kernel.js';
export { castToF32 } from './gpu/kernels/elementwise.js';
