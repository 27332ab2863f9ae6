/**
 * Decides, before any GPU work, whether this browser can compress a model:
 * the device's binding limits for the weights to quantize, where the output
 * can be saved, and (when the browser tells) whether it fits in memory. The
 * page keeps the whole compressed checkpoint until it is saved, so the output
 * size counts against host memory.
 */

/** One weight the run will quantize. */
export interface PlannedWeight {
  readonly tensor: string;
  readonly shape: readonly [number, number];
  /** Bytes of the dense weight in the source checkpoint. */
  readonly bytes: number;
  /** Weight bits of its scheme (for the output estimate). */
  readonly bits: number;
  /** Elements per scale (group size), or the row length for per-channel, or all elements for per-tensor. */
  readonly elementsPerScale: number;
  /** Asymmetric schemes store an int8 zero point per scale. */
  readonly zeroPoints: boolean;
}

export interface LimitInputs {
  readonly weights: readonly PlannedWeight[];
  /** Bytes of every tensor left dense (copied unchanged). */
  readonly denseBytes: number;
  readonly device: { readonly maxStorageBufferBindingSize: number; readonly maxBufferSize: number };
  /** `showDirectoryPicker` exists: output can be streamed into a folder instead of a zip. */
  readonly canSaveToFolder: boolean;
  /** navigator.deviceMemory in GiB (Chromium only, rounded down, at most 8), when known. */
  readonly deviceMemoryGiB?: number;
}

export interface LimitReport {
  /** Empty when the run may start. Each names the tensor or the limit it breaks. */
  readonly problems: readonly string[];
  /** Estimated size of the compressed checkpoint's tensor data. */
  readonly estimatedOutputBytes: number;
  /** The quantized weight with the most elements, and the GPU bytes it needs while it is quantized. */
  readonly largest: { readonly tensor: string; readonly workingSetBytes: number } | null;
}

/** fflate writes no ZIP64 records, so a zip entry and the whole archive stay under 4 GiB. */
export const ZIP_LIMIT_BYTES = 0xffffffff;

/** Each weight is held as f32, its codes and a fake-quantized copy for the error: about three f32 copies. */
const WORKING_SET_FACTOR = 3;

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/** Checks `inputs` against the device and browser limits. */
export function checkLimits(inputs: LimitInputs): LimitReport {
  const problems: string[] = [];
  const bind = Math.min(inputs.device.maxStorageBufferBindingSize, inputs.device.maxBufferSize);
  let largest: { tensor: string; workingSetBytes: number } | null = null;
  let quantizedOut = 0;
  for (const w of inputs.weights) {
    const [rows, cols] = w.shape;
    // Tensors are split into buffers of whole rows, so one f32 row must fit a binding.
    if (cols * 4 > bind) {
      problems.push(`${w.tensor}: one row of [${rows}, ${cols}] is ${mib(cols * 4)} as f32, more than this device's storage binding limit of ${mib(bind)}`);
    }
    const ws = rows * cols * 4 * WORKING_SET_FACTOR;
    if (!largest || ws > largest.workingSetBytes) largest = { tensor: w.tensor, workingSetBytes: ws };
    const n = rows * cols;
    const scales = Math.ceil(n / Math.max(1, w.elementsPerScale));
    quantizedOut += Math.ceil((n * w.bits) / 8) + scales * 4 + (w.zeroPoints ? scales : 0);
  }
  const estimatedOutputBytes = inputs.denseBytes + quantizedOut;
  if (!inputs.canSaveToFolder && estimatedOutputBytes > ZIP_LIMIT_BYTES) {
    problems.push(
      `the compressed checkpoint would be about ${mib(estimatedOutputBytes)}; without the File System Access API (showDirectoryPicker) this browser can only save a zip, which is limited to 4 GiB here. Use a Chromium-based browser to save into a folder`,
    );
  }
  if (inputs.deviceMemoryGiB && largest) {
    const budget = inputs.deviceMemoryGiB * 2 ** 30 * 0.75;
    const need = estimatedOutputBytes + largest.workingSetBytes;
    if (need > budget) {
      problems.push(
        `the page would hold about ${mib(need)} (the compressed checkpoint until it is saved, plus ${largest.tensor} while it is quantized), more than three quarters of the ${inputs.deviceMemoryGiB} GiB this device reports`,
      );
    }
  }
  return { problems, estimatedOutputBytes, largest };
}
