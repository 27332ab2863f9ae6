/**
 * The inputs of one AWQ parent module, captured by its forward_pre hook
 * during the calibration pass (llm-compressor caches the parent's kwargs in
 * an `IntermediatesCache`), and replayed by the grid search.
 *
 * Each hook call is copied (the forward owns its tensors); with `offload`
 * the copy goes to host memory. For the search, consecutive samples of the
 * same sequence length are packed into batches of up to `maxRows` rows, so
 * the parent runs once per batch rather than once per sample — the rows are
 * independent (attention sees them as separate sequences), so the outputs
 * and the loss are the same.
 */
import type { Hardware } from '../../gpu/hardware.js';
import { Tensor } from '../../gpu/tensor.js';
import type { ModuleKwargs, SequenceShape } from '../../models/causalLM.js';

interface Sample {
  readonly rows: number;
  readonly cols: number;
  readonly shape: SequenceShape | undefined;
  gpu?: Tensor;
  host?: Float32Array;
}

/** Parent inputs for one parent-module forward. */
export interface InputBatch {
  readonly rows: number;
  readonly kwargs: ModuleKwargs;
  /** The inputs on the GPU; give them back with `done` (an offloaded batch is uploaded per use). */
  input(): Tensor;
  done(t: Tensor): void;
}

function sameLayout(a: Sample, b: Sample): boolean {
  if (a.cols !== b.cols) return false;
  if (!a.shape || !b.shape) return !a.shape && !b.shape;
  return a.shape.seqLen === b.shape.seqLen && !a.shape.posOffset && !b.shape.posOffset;
}

export class ParentInputCache {
  private samples: Sample[] = [];
  private packed: { rows: number; kwargs: ModuleKwargs; gpu?: Tensor; host?: Float32Array }[] | undefined;

  /** With `offload`, inputs wait in host memory (AWQ's `offload_device: cpu`). */
  constructor(private readonly hw: Hardware, private readonly offload: boolean) {}

  get size(): number {
    return this.samples.length;
  }

  /** Copies one forward's input (`[tokens, features]` f32) and its kwargs. */
  async add(x: Tensor, kwargs: ModuleKwargs | undefined): Promise<void> {
    if (this.packed) throw new Error('parent input cache: batches were already formed; no more inputs can be added');
    if (x.dtype !== 'f32' || x.shape.length !== 2) throw new Error(`parent input cache: expected an f32 [tokens, features] input, got [${x.shape.join(', ')}] ${x.dtype}`);
    if (x.isChunked) throw new Error(`parent input cache: an input of [${x.shape.join(', ')}] exceeds one storage binding`);
    const shape = kwargs?.shape;
    if (shape && shape.batch * shape.seqLen !== x.shape[0]) throw new Error(`parent input cache: ${x.shape[0]} rows for ${shape.batch} × ${shape.seqLen} tokens`);
    const sample: Sample = { rows: x.shape[0], cols: x.shape[1], shape: shape ? { batch: shape.batch, seqLen: shape.seqLen, posOffset: shape.posOffset } : undefined };
    if (this.offload) sample.host = (await x.readF32()).slice();
    else {
      const copy = Tensor.empty(this.hw, x.shape, 'f32', { label: 'wgc-awq-parent-input' });
      if (x.byteLength > 0) this.hw.batcher.copy(x.buffer, 0, copy.buffer, 0, x.byteLength);
      sample.gpu = copy;
    }
    this.samples.push(sample);
  }

  /**
   * The cached inputs as batches of at most `maxRows` rows (a single sample
   * larger than that stays alone). The first call packs the samples; later
   * calls return the same batches.
   */
  batches(maxRows: number): InputBatch[] {
    if (!this.packed) this.packed = this.pack(Math.max(1, maxRows));
    return this.packed.map((b) => ({
      rows: b.rows,
      kwargs: b.kwargs,
      input: () => b.gpu ?? Tensor.fromData(this.hw, b.host!, [b.rows, b.host!.length / Math.max(1, b.rows)], 'f32'),
      done: (t: Tensor) => {
        if (t !== b.gpu) t.dispose();
      },
    }));
  }

  private pack(maxRows: number): { rows: number; kwargs: ModuleKwargs; gpu?: Tensor; host?: Float32Array }[] {
    const out: { rows: number; kwargs: ModuleKwargs; gpu?: Tensor; host?: Float32Array }[] = [];
    let i = 0;
    while (i < this.samples.length) {
      const first = this.samples[i];
      let j = i + 1;
      let rows = first.rows;
      while (j < this.samples.length && sameLayout(first, this.samples[j]) && rows + this.samples[j].rows <= maxRows) rows += this.samples[j++].rows;
      const group = this.samples.slice(i, j);
      const cols = first.cols;
      const batch = group.reduce((n, s) => n + (s.shape?.batch ?? 0), 0);
      const kwargs: ModuleKwargs = first.shape ? { shape: { batch, seqLen: first.shape.seqLen, posOffset: first.shape.posOffset } } : {};
      if (group.length === 1) {
        out.push({ rows, kwargs, gpu: first.gpu, host: first.host });
      } else if (this.offload) {
        const host = new Float32Array(rows * cols);
        let at = 0;
        for (const s of group) {
          host.set(s.host!, at);
          at += s.host!.length;
        }
        out.push({ rows, kwargs, host });
      } else {
        const gpu = Tensor.empty(this.hw, [rows, cols], 'f32', { label: 'wgc-awq-parent-batch' });
        let at = 0;
        for (const s of group) {
          if (s.gpu!.byteLength > 0) this.hw.batcher.copy(s.gpu!.buffer, 0, gpu.buffer, at, s.gpu!.byteLength);
          at += s.gpu!.byteLength;
          s.gpu!.dispose();
        }
        out.push({ rows, kwargs, gpu });
      }
      i = j;
    }
    this.samples = [];
    return out;
  }

  dispose(): void {
    for (const s of this.samples) s.gpu?.dispose();
    for (const b of this.packed ?? []) b.gpu?.dispose();
    this.samples = [];
    this.packed = undefined;
  }
}
