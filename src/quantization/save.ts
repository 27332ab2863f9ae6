/**
 * The save step of the lifecycle path: a model compressed by the recipe's
 * modifiers → a compressed-tensors checkpoint via src/io's writer.
 *
 * - Linears a QuantizationModifier quantized hold their codes and qparams as
 *   parameters (src/modifiers/quantization/base.ts) and are written as they are.
 * - Linears a GPTQModifier quantized hold the fake-quantized weight Q(W) and
 *   the qparams it was quantized with; their codes are derived on the GPU
 *   from exactly those qparams (shaders/codes.wgsl), never re-observed.
 * - Static activation schemes add `input_scale` / `input_zero_point` /
 *   `input_global_scale` (and `output_*`) from the module's parameters.
 * - Pruned weights (SparseGPT, Wanda, magnitude) are written dense with
 *   `sparsity_config: {}` (compressed-tensors.md §2.10 C′); their sparsity is
 *   measured on the GPU and returned as a {@link SparsityReport}.
 * Every other parameter is written dense in the model's dtype. Node: the
 * folder appears only once complete.
 */
import type { Model, Module, Parameter, SaveContext } from '../core/model.js';
import type { Hardware } from '../gpu/hardware.js';
import { Tensor } from '../gpu/tensor.js';
import { castToF32 } from '../gpu/kernels/elementwise.js';
import { writeOutputFolder } from '../io/node/index.js';
import type { FolderSource } from '../io/folder.js';
import { writeCompressedCheckpoint, type QuantizedLayer, type WrittenCheckpoint } from '../io/compressed/writer.js';
import type { TensorEntry } from '../io/safetensors/writer.js';
import { f32ArrayToBf16, f32ArrayToF16 } from '../io/numeric/float.js';
import { QuantizationModifier, QUANTIZED_PARAMETERS } from '../modifiers/quantization/base.js';
import { ACTIVATION_PARAMETERS, modelDtype } from '../modifiers/quantization/activations.js';
import { GPTQModifier, type GptqCompressedModule } from '../modifiers/gptq/base.js';
import { isPruned } from '../compression/sparsityMarks.js';
import { scaleGeometry } from '../compression/gptq.js';
import { quantRange } from './layout.js';
import type { ComputeDtype } from './numerics.js';
import { countZeros, deriveCodes } from './kernels/codes.js';

/** Options of {@link saveQuantizedModel}. */
export interface SaveQuantizedOptions {
  /** Replace an existing non-empty folder. */
  overwrite?: boolean;
  /** Folder whose tokenizer / generation files are copied beside the weights. */
  carryFrom?: FolderSource;
}

/** Sparsity of the weights a pruning modifier pruned (fraction of exact zeros). */
export interface SparsityReport {
  /** Zeros over elements of all pruned weights together. */
  readonly global: number;
  /** Per pruned Linear, in module order. */
  readonly modules: readonly { name: string; sparsity: number }[];
}

/** What {@link saveQuantizedModel} wrote, plus the sparsity of pruned weights (null when nothing was pruned). */
export interface SavedModel extends WrittenCheckpoint {
  readonly sparsity: SparsityReport | null;
}

/** Parameters of a quantized module that its compressed form replaces (never written dense). */
const LAYER_PARAMETERS: ReadonlySet<string> = new Set(['weight', 'weight_g_idx', ...QUANTIZED_PARAMETERS, ...ACTIVATION_PARAMETERS]);

function dtypeOf(config: Readonly<Record<string, unknown>>): 'F32' | 'BF16' | 'F16' {
  const d = String(config.torch_dtype ?? config.dtype ?? 'float32');
  return d === 'bfloat16' ? 'BF16' : d === 'float16' || d === 'half' ? 'F16' : 'F32';
}

async function readParam(p: Parameter): Promise<Uint8Array> {
  const t = await p.get();
  const b = await t.readBytes();
  p.release();
  return b;
}

function requireParam(m: Module, n: string): Parameter {
  const p = m.getParameter(n);
  if (!p) throw new Error(`${m.name}: parameter ${n} is missing; was the module quantized?`);
  return p;
}

const f32Of = (m: Module, n: string) => async (): Promise<Float32Array> => {
  const b = await readParam(requireParam(m, n));
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
};

const int8Of = (m: Module, n: string) => async (): Promise<Int8Array> => {
  const b = await readParam(requireParam(m, n));
  return Int8Array.from(new Int32Array(b.buffer, b.byteOffset, b.byteLength / 4));
};

/** The optional qparam and activation fields of a layer, from whichever parameters the module holds. */
function optionalFields(m: Module): Partial<QuantizedLayer> {
  const has = (n: string) => m.getParameter(n) !== undefined;
  return {
    weightZeroPoint: has('weight_zero_point') ? int8Of(m, 'weight_zero_point') : undefined,
    weightGlobalScale: has('weight_global_scale') ? f32Of(m, 'weight_global_scale') : undefined,
    weightGIdx: has('weight_g_idx')
      ? async () => {
          const b = await readParam(requireParam(m, 'weight_g_idx'));
          return new Int32Array(b.buffer, b.byteOffset, b.byteLength / 4).slice();
        }
      : undefined,
    inputScale: has('input_scale') ? f32Of(m, 'input_scale') : undefined,
    inputZeroPoint: has('input_zero_point') ? int8Of(m, 'input_zero_point') : undefined,
    inputGlobalScale: has('input_global_scale') ? f32Of(m, 'input_global_scale') : undefined,
    outputScale: has('output_scale') ? f32Of(m, 'output_scale') : undefined,
    outputZeroPoint: has('output_zero_point') ? int8Of(m, 'output_zero_point') : undefined,
  };
}

/**
 * The codes of a GPTQ-quantized weight: compressed-tensors' quantize of the
 * stored Q(W) with the stored scale / zero point / global scale / g_idx,
 * on the GPU (one byte per element, row-major).
 */
export async function gptqWeightCodes(hw: Hardware, c: GptqCompressedModule, dtype: ComputeDtype): Promise<Int8Array | Uint8Array> {
  const m = c.module;
  const args = c.quant.args;
  const [rows, cols] = c.shape;
  const weight = await requireParam(m, 'weight').get();
  if (weight.dtype !== 'f32') throw new Error(`${m.name}.weight is ${weight.dtype}; GPTQ leaves an f32 Q(W)`);
  const tensor = async (n: string) => (m.getParameter(n) ? await requireParam(m, n).get() : null);
  const scale = await requireParam(m, 'weight_scale').get();
  const zp = await tensor('weight_zero_point');
  const gIdx = await tensor('weight_g_idx');
  const gs = await tensor('weight_global_scale');
  const geo = scaleGeometry(c.quant.layout, rows, cols);
  const { qmin, qmax } = quantRange(args);
  const parts = deriveCodes(hw, weight, {
    qtype: args.type === 'int' ? 0 : args.numBits === 8 ? 1 : 2,
    qmin, qmax,
    scale: { buffer: scale.buffer, size: scale.byteLength },
    zeroPoint: zp ? { buffer: zp.buffer, size: zp.byteLength } : null,
    gIdx: gIdx ? { buffer: gIdx.buffer, size: gIdx.byteLength } : null,
    globalScale: gs ? { buffer: gs.buffer, size: gs.byteLength } : null,
    rowsPerScale: geo.rowsPerScale,
    scaleCols: geo.scaleCols,
    divisor: geo.divisor,
    dtype,
  });
  const codes = new Uint8Array(rows * cols);
  try {
    let at = 0;
    for (let i = 0; i < parts.length; i++) {
      const n = weight.chunks[i].rows * cols;
      codes.set((await parts[i].readBytes()).subarray(0, n), at);
      at += n;
    }
  } finally {
    for (const p of parts) p.dispose();
  }
  return args.type === 'int' ? new Int8Array(codes.buffer) : codes;
}

/** Fraction of exact zeros of every pruned 2-D weight, counted on the GPU (one read back). */
export async function sparsityReport(hw: Hardware, model: Model): Promise<SparsityReport | null> {
  const pruned = [...model.root.modules()].filter((m) => isPruned(m) && m.getParameter('weight')?.shape.length === 2);
  if (pruned.length === 0) return null;
  const counts = Tensor.empty(hw, [pruned.length], 'u32', { label: 'zero-counts' });
  try {
    hw.batcher.clear(counts.buffer, 0, counts.chunks[0].byteLength);
    for (let i = 0; i < pruned.length; i++) {
      const w = await pruned[i].getParameter('weight')!.get();
      const f = w.dtype === 'f32' ? w : castToF32(hw, w);
      countZeros(hw, f, counts.buffer, i);
      if (f !== w) f.dispose();
    }
    const zeros = await counts.readU32();
    let z = 0;
    let n = 0;
    const modules = pruned.map((m, i) => {
      const [o, k] = m.getParameter('weight')!.shape;
      z += zeros[i];
      n += o * k;
      return { name: m.name, sparsity: zeros[i] / (o * k) };
    });
    return { global: z / n, modules };
  } finally {
    counts.dispose();
  }
}

/**
 * Writes `model` to `outputDir` as a compressed-tensors checkpoint: the
 * layers quantized by the QuantizationModifier(s) and GPTQModifier(s) of
 * `context.recipe` compressed (one config group per modifier group, prefixed
 * `m<k>_` when several modifiers quantize), everything else dense,
 * config.json with `quantization_config`, recipe.yaml. Tensors are read from
 * the GPU one at a time as the writer reaches them.
 */
export async function saveQuantizedModel(model: Model, outputDir: string, context: SaveContext, options: SaveQuantizedOptions = {}): Promise<SavedModel> {
  if (!model.config) throw new Error(`cannot save ${model.architecture}: the model has no config.json to write`);
  const config = model.config;
  const hw = context.hardware;
  const computeDtype = modelDtype(config);
  const mods = context.recipe.modifiers.filter((m): m is QuantizationModifier | GPTQModifier => m instanceof QuantizationModifier || m instanceof GPTQModifier);
  const layers: QuantizedLayer[] = [];
  const groups: Record<string, Record<string, unknown>> = {};
  const ignore = new Set<string>();
  const quantized = new Set<string>();
  mods.forEach((mod, k) => {
    const prefix = mods.length > 1 ? `m${k}_` : '';
    for (const [name, g] of Object.entries(mod.configGroupsJson())) groups[prefix + name] = g;
    if (mod instanceof QuantizationModifier) {
      for (const i of mod.kernelQuantization.ignore) ignore.add(i);
      for (const r of mod.quantizedModules) {
        const m = r.module;
        quantized.add(m.name);
        const int = r.scheme.weights!.type === 'int';
        layers.push({
          ...optionalFields(m),
          module: m.name,
          group: prefix + r.group,
          shape: r.shape,
          weight: async () => {
            const b = await readParam(requireParam(m, 'weight_codes'));
            return int ? new Int8Array(b.buffer, b.byteOffset, b.length) : b;
          },
          weightScale: f32Of(m, 'weight_scale'),
        });
      }
    } else {
      for (const i of mod.ignore) ignore.add(i);
      for (const c of mod.compressedModules) {
        const m = c.module;
        quantized.add(m.name);
        layers.push({
          ...optionalFields(m),
          module: m.name,
          group: prefix + c.group,
          shape: c.shape,
          weight: () => gptqWeightCodes(hw, c, computeDtype),
          weightScale: f32Of(m, 'weight_scale'),
        });
      }
    }
  });
  const sparsity = await sparsityReport(hw, model);
  const dtype = dtypeOf(config);
  const dense: TensorEntry[] = [];
  for (const [name, p] of model.root.namedParameters()) {
    const dot = name.lastIndexOf('.');
    const module = name.slice(0, dot);
    const local = name.slice(dot + 1);
    if (quantized.has(module) && LAYER_PARAMETERS.has(local)) continue;
    if (p.dtype !== 'f32' && p.dtype !== 'f16' && p.dtype !== 'bf16') throw new Error(`${name}: ${p.dtype} parameters are not written by this save step`);
    dense.push({
      name,
      dtype,
      shape: [...p.shape],
      data: async () => {
        const t = await p.get();
        const f = t.dtype === 'f32' ? await t.readF32() : null;
        const raw = f ? null : await t.readBytes();
        p.release();
        if (f) return dtype === 'F32' ? f : dtype === 'BF16' ? f32ArrayToBf16(f) : f32ArrayToF16(f);
        if ((t.dtype === 'bf16' && dtype === 'BF16') || (t.dtype === 'f16' && dtype === 'F16')) return raw!;
        throw new Error(`${name}: stored as ${t.dtype}, cannot be written as ${dtype}`);
      },
    });
  }
  const written = await writeOutputFolder(outputDir, { overwrite: options.overwrite }, (out) =>
    writeCompressedCheckpoint(out, {
      config,
      quantization: layers.length ? { config_groups: groups as never, ignore: [...ignore] } : null,
      layers,
      dense,
      recipe: context.recipeYaml,
      carryFrom: options.carryFrom,
    }),
  );
  return { ...written, sparsity };
}
