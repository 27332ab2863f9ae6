/**
 * Data-free quantization straight from a safetensors checkpoint
 * (llm-compressor's `model_free_ptq`): no model definition, any architecture
 * whose Linear weights can be recognised by name. Each targeted
 * `<module>.weight` is loaded, quantized on the GPU and handed to src/io's
 * compressed-tensors writer as the writer reaches it; everything else is
 * copied through. Peak memory is about one weight tensor plus its outputs
 * (and the small scales of layers whose codes are not yet written). When the
 * writer needs a layer's scales before its codes, the codes are kept up to
 * `codeCacheBytes` and otherwise recomputed when due.
 */
import type { Hardware } from '../gpu/hardware.js';
import { Tensor } from '../gpu/tensor.js';
import type { TensorInfo } from '../io/safetensors/header.js';
import type { TensorStore } from '../io/safetensors/reader.js';
import { loadTensorF32 } from '../io/safetensors/gpu.js';
import { bestMatch, isIgnored, looksLikeEmbedding } from '../io/compressed/match.js';
import type { QuantizedLayer } from '../io/compressed/writer.js';
import { denseEntries, writeCompressedCheckpoint } from '../io/compressed/writer.js';
import type { OutputFolder, FolderSource } from '../io/folder.js';
import { quantizationSchemeToJson, schemeNeedsCalibration, type QuantizationScheme } from './args.js';
import { checkLinear, quantizeLinear, type CompressedLinear } from './compress.js';
import type { WeightFormat } from './format.js';
import type { ComputeDtype } from './numerics.js';
import { QuantizationError, observeGlobalStats, planQuantization } from './quantizeWeight.js';
import type { ScaleDivision } from './reference.js';

/** What to quantize: config groups (each with its targets) and modules to leave alone. */
export interface QuantizationSpec {
  readonly groups: Readonly<Record<string, QuantizationScheme>>;
  readonly ignore: readonly string[];
}

/** One weight the run quantizes. */
export interface PlannedLinear {
  readonly tensor: string;
  readonly module: string;
  readonly group: string;
  readonly scheme: QuantizationScheme;
  readonly format: WeightFormat;
  readonly shape: readonly [number, number];
  readonly dtype: ComputeDtype;
  /** Bytes the dense weight takes in the source. */
  readonly bytes: number;
}

/** A 2-D `.weight` left dense, and why. */
export interface SkippedTensor {
  readonly tensor: string;
  readonly reason: string;
}

export interface ModelFreePlan {
  readonly quantize: readonly PlannedLinear[];
  readonly skipped: readonly SkippedTensor[];
  /** Tensors copied unchanged (everything but the quantized weights). */
  readonly copied: number;
}

const DTYPES: Record<string, ComputeDtype | undefined> = { F32: 'f32', BF16: 'bf16', F16: 'f16' };

function isLmHead(module: string): boolean {
  return module === 'lm_head' || module.endsWith('.lm_head');
}

/**
 * Decides, from names and shapes alone, which tensors are quantized and with
 * which group (the first group whose targets match, as compressed-tensors'
 * model-free matching does). A class target (`Linear`) matches every 2-D
 * `.weight` except embeddings, norms and `lm_head`; `lm_head` is quantized
 * only when a target names it (exact name or `re:` pattern). Every problem a
 * run would hit — a scheme that needs calibration data, a shape the scheme
 * cannot take, a dtype that is not a float — is an error here, before any
 * GPU work.
 */
export function planModelFree(store: TensorStore, spec: QuantizationSpec): ModelFreePlan {
  for (const [name, s] of Object.entries(spec.groups)) {
    const why = schemeNeedsCalibration(s);
    if (why) {
      throw new QuantizationError(
        `config group "${name}" needs calibration data: ${why}. Data-free quantization cannot observe activations; running the model on calibration data is not implemented yet (use a weight-only or dynamic-activation scheme such as W4A16, W8A8, FP8_DYNAMIC, NVFP4A16)`,
      );
    }
  }
  const quantize: PlannedLinear[] = [];
  const skipped: SkippedTensor[] = [];
  for (const t of store.tensors) {
    if (!t.name.endsWith('.weight') || t.shape.length !== 2) continue;
    const module = t.name.slice(0, -'.weight'.length);
    if (looksLikeEmbedding(module)) {
      skipped.push({ tensor: t.name, reason: 'embedding' });
      continue;
    }
    if (/norm$/.test(module)) {
      skipped.push({ tensor: t.name, reason: 'norm' });
      continue;
    }
    let match: { group: string; kind: string } | undefined;
    for (const [group, s] of Object.entries(spec.groups)) {
      const kind = bestMatch(module, s.targets, true);
      if (kind) {
        match = { group, kind };
        break;
      }
    }
    if (!match) {
      skipped.push({ tensor: t.name, reason: 'not targeted' });
      continue;
    }
    if (isLmHead(module) && match.kind === 'class') {
      skipped.push({ tensor: t.name, reason: 'lm_head is quantized only when a target names it' });
      continue;
    }
    if (isIgnored(module, spec.ignore)) {
      skipped.push({ tensor: t.name, reason: 'ignored' });
      continue;
    }
    const scheme = spec.groups[match.group];
    const dtype = DTYPES[t.dtype];
    if (!dtype) throw new QuantizationError(`${t.name}: stored as ${t.dtype}; only F32, BF16 and F16 weights can be quantized (is the checkpoint already quantized?)`);
    const format = checkLinear(scheme, module);
    planQuantization(scheme.weights!, t.shape[0], t.shape[1], { name: t.name, dtype });
    quantize.push({ tensor: t.name, module, group: match.group, scheme, format, shape: [t.shape[0], t.shape[1]], dtype, bytes: t.byteLength });
  }
  checkFusedNvfp4(quantize);
  return { quantize, skipped, copied: store.tensors.length - quantize.length };
}

const FUSED_SETS: readonly (readonly string[])[] = [['q_proj', 'k_proj', 'v_proj'], ['gate_proj', 'up_proj'], ['w1', 'w3']];

/** The fused family of a module (`<prefix>|q_proj,k_proj,v_proj`), if it belongs to one. */
function fusedKey(module: string): string | undefined {
  const i = module.lastIndexOf('.');
  const local = module.slice(i + 1);
  const set = FUSED_SETS.find((s) => s.includes(local));
  return set ? `${module.slice(0, i)}|${set.join(',')}` : undefined;
}

/** vLLM keeps one NVFP4 global scale per fused layer, so every member must be tensor_group (llm-compressor asserts it). */
function checkFusedNvfp4(plan: readonly PlannedLinear[]): void {
  const families = new Map<string, PlannedLinear[]>();
  for (const p of plan) {
    const k = fusedKey(p.module);
    if (k) families.set(k, [...(families.get(k) ?? []), p]);
  }
  for (const members of families.values()) {
    const tg = members.filter((m) => m.scheme.weights?.strategy === 'tensor_group');
    if (tg.length > 0 && tg.length !== members.length) {
      throw new QuantizationError(`${members.map((m) => m.module).join(', ')}: fused layers must all use tensor_group (NVFP4) quantization to share one global scale`);
    }
  }
}

/** Per-layer outcome for the summary. */
export interface LayerReport {
  readonly tensor: string;
  readonly group: string;
  readonly format: WeightFormat;
  readonly shape: readonly [number, number];
  /** ‖W − Q(W)‖ / ‖W‖. */
  readonly relativeError: number;
}

/** Progress of a run, one event per quantized weight. */
export interface ModelFreeProgress {
  readonly tensor: string;
  /** 1-based position among the weights to quantize, and their number. */
  readonly index: number;
  readonly total: number;
  readonly shape: readonly [number, number];
}

export interface ModelFreeOptions {
  /** model.safetensors (or the sharded set) of the source. */
  readonly weights: TensorStore;
  /** The source model's config.json. */
  readonly config: Readonly<Record<string, unknown>>;
  /** Folder whose tokenizer and generation files are copied. */
  readonly carryFrom?: FolderSource;
  readonly spec: QuantizationSpec;
  /** recipe.yaml text written beside the checkpoint. */
  readonly recipeYaml?: string;
  readonly scaleDivision?: ScaleDivision;
  readonly onProgress?: (p: ModelFreeProgress) => void;
  readonly signal?: AbortSignal;
  /**
   * Codes kept in memory when the writer needs a layer's scales before its
   * codes (formats whose scales sort first in the file); beyond this many
   * bytes a layer is quantized again when its codes are due. Default 256 MiB.
   */
  readonly codeCacheBytes?: number;
}

export interface ModelFreeResult {
  readonly plan: ModelFreePlan;
  readonly layers: readonly LayerReport[];
  /** Bytes of tensor data in the source and in the written checkpoint. */
  readonly bytesBefore: number;
  readonly bytesAfter: number;
  /** Parameters quantized, and the bits per quantized weight (codes + scales + zero points). */
  readonly quantizedParams: number;
  readonly bitsPerWeight: number;
  readonly files: readonly string[];
  /** GPU quantizations run (more than the layer count when a layer's scales were needed before its codes). */
  readonly quantizations: number;
}

/**
 * Quantizes `options.weights` into `out` (use a NodeOutputFolder so nothing
 * appears at the target unless the whole checkpoint was written).
 */
export async function modelFreeQuantize(hw: Hardware, out: OutputFolder, options: ModelFreeOptions): Promise<ModelFreeResult> {
  const store = options.weights;
  const plan = planModelFree(store, options.spec);
  const reports = new Map<string, LayerReport>();
  let quantizations = 0;
  let progressIndex = 0;

  // Fused NVFP4 sets share the tensor-wide min/max of all their members.
  const fusedStats = new Map<string, Promise<Uint32Array>>();
  const familyOf = new Map<string, PlannedLinear[]>();
  for (const p of plan.quantize) {
    const k = p.scheme.weights?.strategy === 'tensor_group' ? fusedKey(p.module) : undefined;
    if (k) familyOf.set(k, [...(familyOf.get(k) ?? []), p]);
  }
  const globalStatsFor = async (p: PlannedLinear): Promise<GPUBuffer | undefined> => {
    const k = p.scheme.weights?.strategy === 'tensor_group' ? fusedKey(p.module) : undefined;
    const members = k ? familyOf.get(k) : undefined;
    if (!k || !members || members.length < 2) return undefined;
    let keys = fusedStats.get(k);
    if (!keys) {
      keys = (async () => {
        // One member at a time: peak memory stays one tensor.
        const merged = Uint32Array.of(0xffffffff, 0);
        for (const m of members) {
          const t = await loadTensorF32(hw, store, m.tensor);
          const buf = observeGlobalStats(hw, [t]);
          const tmp = Tensor.empty(hw, [4], 'u32');
          hw.batcher.copy(buf, 0, tmp.buffer, 0, 16);
          const got = await tmp.readU32();
          merged[0] = Math.min(merged[0], got[0]);
          merged[1] = Math.max(merged[1], got[1]);
          tmp.dispose();
          hw.pool.releaseAfterSubmit(buf);
          t.dispose();
        }
        return merged;
      })();
      fusedStats.set(k, keys);
    }
    const merged = await keys;
    const t = Tensor.fromData(hw, Uint32Array.of(merged[0], merged[1], 0, 0), [4], 'u32');
    return t.buffer;
  };

  const run = async (p: PlannedLinear): Promise<CompressedLinear> => {
    if (options.signal?.aborted) throw options.signal.reason instanceof Error ? options.signal.reason : new Error('quantization aborted');
    const weight = await loadTensorF32(hw, store, p.tensor);
    const stats = await globalStatsFor(p);
    try {
      const c = await quantizeLinear(hw, weight, p.scheme, { module: p.module, group: p.group, dtype: p.dtype, scaleDivision: options.scaleDivision, globalStats: stats });
      quantizations++;
      return c;
    } finally {
      weight.dispose();
      if (stats) hw.pool.releaseAfterSubmit(stats);
    }
  };

  const cacheBudget = options.codeCacheBytes ?? 256 * 1024 * 1024;
  let cachedBytes = 0;
  const layers: QuantizedLayer[] = plan.quantize.map((p) => {
    let small: { scale: Float32Array; zp?: Int8Array; gs?: Float32Array } | undefined;
    const record = (c: CompressedLinear): void => {
      small ??= { scale: c.weightScale, zp: c.weightZeroPoint, gs: c.weightGlobalScale };
      if (!reports.has(p.tensor)) {
        reports.set(p.tensor, { tensor: p.tensor, group: p.group, format: p.format, shape: p.shape, relativeError: Math.sqrt(c.errorSquared / Math.max(c.normSquared, Number.MIN_VALUE)) });
        options.onProgress?.({ tensor: p.tensor, index: ++progressIndex, total: plan.quantize.length, shape: p.shape });
      }
    };
    let codes: Int8Array | Uint8Array | Int32Array | undefined;
    const smallField = async <K extends 'scale' | 'zp' | 'gs'>(k: K): Promise<NonNullable<NonNullable<typeof small>[K]>> => {
      if (!small) {
        const c = await run(p);
        record(c);
        // The codes come later in the file: keep them if the budget allows, else quantize again then.
        if (cachedBytes + c.weight.byteLength <= cacheBudget) {
          codes = c.weight;
          cachedBytes += c.weight.byteLength;
        }
      }
      const v = small![k];
      if (!v) throw new QuantizationError(`${p.module}: internal: no ${k} was produced`);
      return v as NonNullable<NonNullable<typeof small>[K]>;
    };
    const w = p.scheme.weights!;
    return {
      module: p.module,
      group: p.group,
      shape: p.shape,
      weight: async () => {
        if (codes) {
          const kept = codes;
          codes = undefined;
          cachedBytes -= kept.byteLength;
          return kept;
        }
        const c = await run(p);
        record(c);
        return c.weight;
      },
      weightScale: () => smallField('scale'),
      weightZeroPoint: w.symmetric ? undefined : () => smallField('zp'),
      weightGlobalScale: w.strategy === 'tensor_group' ? () => smallField('gs') : undefined,
    };
  });

  const configGroups: Record<string, Record<string, unknown>> = {};
  for (const [name, s] of Object.entries(options.spec.groups)) {
    const used = plan.quantize.find((p) => p.group === name);
    if (!used) continue; // a group that matched nothing is not written (loaders would find no layer for it)
    configGroups[name] = { ...quantizationSchemeToJson(s), format: used.format };
  }
  if (Object.keys(configGroups).length === 0) throw new QuantizationError('no Linear weight of the model is targeted by the config groups (or all are ignored); nothing to quantize');
  const written = await writeCompressedCheckpoint(out, {
    config: options.config,
    // An lm_head left dense must be in `ignore`, or a class target would claim it for loaders.
    quantization: { config_groups: configGroups as never, ignore: [...new Set([...options.spec.ignore, ...plan.skipped.filter((k) => isLmHead(k.tensor.slice(0, -'.weight'.length))).map((k) => k.tensor.slice(0, -'.weight'.length))])] },
    layers,
    dense: denseEntries(store),
    recipe: options.recipeYaml,
    carryFrom: options.carryFrom,
  });
  const bytesBefore = store.tensors.reduce((a: number, t: TensorInfo) => a + t.byteLength, 0);
  const bytesAfter = written.weights.totalSize;
  const quantizedParams = plan.quantize.reduce((a, p) => a + p.shape[0] * p.shape[1], 0);
  const quantizedSet = new Set(plan.quantize.map((p) => p.tensor));
  const denseBytes = store.tensors.filter((t) => !quantizedSet.has(t.name)).reduce((a, t) => a + t.byteLength, 0);
  return {
    plan,
    layers: plan.quantize.map((p) => reports.get(p.tensor)!).filter(Boolean),
    bytesBefore,
    bytesAfter,
    quantizedParams,
    bitsPerWeight: quantizedParams > 0 ? ((bytesAfter - denseBytes) * 8) / quantizedParams : 0,
    files: written.files,
    quantizations,
  };
}
