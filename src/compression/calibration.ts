/**
 * Per-module input statistics that the calibration hooks of GPTQ, SparseGPT
 * and Wanda accumulate (llm-compressor.md §6.1–6.3), and the helpers the
 * modifiers share to read and replace a Linear's weight.
 */
import type { Module, Model, HookCall } from '../core/model.js';
import type { Hardware } from '../gpu/hardware.js';
import { Tensor } from '../gpu/tensor.js';
import { castToF32 } from '../gpu/kernels/elementwise.js';
import { columnSquareNormsAccumulate, createHessian, hessianAccumulate } from './kernels/hessian.js';

/**
 * What is accumulated per module:
 *   hessianSum   GPTQ: H += 2·XᵀX per call, divided by the sample count at the end;
 *   hessianMean  SparseGPT: running average H·s/(s+k) + (2/(s+k))·XᵀX;
 *   columnNorms  Wanda: running average of ‖X_j‖².
 * A call's input [tokens, n] counts as one sample (llm-compressor unsqueezes
 * 2-D inputs: the number of sequences, not tokens).
 */
export type StatisticKind = 'hessianSum' | 'hessianMean' | 'columnNorms';

interface Entry {
  n: number;
  samples: number;
  gpu?: Tensor;
  host?: Float32Array;
}

export class InputStatistics {
  private readonly entries = new Map<Module, Entry>();

  /** With `offload`, statistics live in host memory between calls (`offload_hessians`). */
  constructor(private readonly hw: Hardware, readonly kind: StatisticKind, private readonly offload = false, private readonly maxChunkBytes?: number) {}

  /** Adds one forward's input of `module` (a hook call's `inputs[0]`). */
  async accumulate(module: Module, x: Tensor): Promise<void> {
    if (x.dtype !== 'f32') throw new Error(`${module.name}: calibration input is ${x.dtype}; expected f32`);
    const n = x.shape[x.shape.length - 1];
    const tokens = x.numel / n;
    if (x.shape.length !== 2) throw new Error(`${module.name}: calibration input of shape [${x.shape.join(', ')}] is not 2-D [tokens, ${n}] (${tokens} rows)`);
    const input = x;
    let e = this.entries.get(module);
    if (!e) {
      e = { n, samples: 0 };
      this.entries.set(module, e);
    }
    if (e.n !== n) throw new Error(`${module.name}: calibration inputs changed width from ${e.n} to ${n}`);
    const t = this.onGpu(e);
    const s = e.samples;
    if (this.kind === 'hessianSum') hessianAccumulate(this.hw, t, n, input, 1, 2);
    else if (this.kind === 'hessianMean') hessianAccumulate(this.hw, t, n, input, s / (s + 1), 2 / (s + 1));
    else columnSquareNormsAccumulate(this.hw, t, n, input, s / (s + 1), 1 / (s + 1));
    e.samples = s + 1;
    if (this.offload) {
      e.host = await t.readF32();
      t.dispose();
      e.gpu = undefined;
    }
  }

  private onGpu(e: Entry): Tensor {
    if (e.gpu) return e.gpu;
    const t = this.kind === 'columnNorms' ? Tensor.empty(this.hw, [e.n], 'f32') : createHessian(this.hw, e.n, this.maxChunkBytes);
    if (e.host) t.write(e.host);
    else if (this.kind === 'columnNorms') this.hw.batcher.clear(t.buffer, 0, t.chunks[0].byteLength);
    e.host = undefined;
    e.gpu = t;
    return t;
  }

  has(module: Module): boolean {
    return this.entries.has(module);
  }

  /** Modules with statistics, in insertion order. */
  get modules(): Module[] {
    return [...this.entries.keys()];
  }

  get size(): number {
    return this.entries.size;
  }

  /** Removes a module's statistic and hands it over (on the GPU) with its sample count. */
  take(module: Module): { tensor: Tensor; samples: number; n: number } {
    const e = this.entries.get(module);
    if (!e) throw new Error(`${module.name}: no calibration statistics were collected (did the module run during calibration?)`);
    const tensor = this.onGpu(e);
    this.entries.delete(module);
    return { tensor, samples: e.samples, n: e.n };
  }

  dispose(): void {
    for (const e of this.entries.values()) e.gpu?.dispose();
    this.entries.clear();
  }
}

/** The first input of a hook call (the Linear's X). */
export function hookInput(call: HookCall): Tensor {
  const x = call.inputs[0];
  if (!x) throw new Error(`${call.module.name}: the forward hook received no input`);
  return x;
}

/** The modules other than `module` that hold the very same weight Parameter (tied embeddings). */
export function tiedWith(model: Model, module: Module): string[] {
  const p = module.getParameter('weight');
  if (!p) return [];
  const out: string[] = [];
  for (const m of model.root.modules()) if (m !== module && m.getParameter('weight') === p) out.push(m.name);
  return out;
}

/** Error for a targeted module whose weight is tied to another module (compressed-tensors.md §8: must be explicit). */
export function tiedWeightError(modifier: string, module: Module, others: readonly string[]): Error {
  return new Error(
    `${modifier}: ${module.name}.weight is tied to ${others.map((o) => `${o}.weight`).join(', ')}; changing it would change ${others.length > 1 ? 'those' : 'that'} too. ` +
      `Add "${module.name}" to \`ignore\` (or untie the weights explicitly before compressing).`,
  );
}

/** A module's weight as an f32 GPU tensor (cast from bf16/f16 when needed), with the dtype it came in. */
export async function weightF32(hw: Hardware, module: Module): Promise<{ weight: Tensor; dtype: 'f32' | 'bf16' | 'f16'; owned: boolean }> {
  const p = module.getParameter('weight');
  if (!p) throw new Error(`${module.name}: has no weight parameter`);
  const t = await p.get();
  if (t.shape.length !== 2) throw new Error(`${module.name}.weight: expected a 2-D Linear weight, got [${t.shape.join(', ')}]`);
  if (t.dtype === 'f32') return { weight: t, dtype: 'f32', owned: false };
  if (t.dtype === 'bf16' || t.dtype === 'f16') return { weight: castToF32(hw, t), dtype: t.dtype, owned: true };
  throw new Error(`${module.name}.weight is ${t.dtype}; only f32, bf16 and f16 weights can be compressed`);
}
