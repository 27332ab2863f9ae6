import { CheckpointError, describeError } from '../errors.js';
import type { FolderSource } from '../folder.js';
import { compareCodePoints } from '../json.js';
import { type ModelConfig } from '../model/config.js';
import { readModelConfig } from '../model/folder.js';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../numeric/float.js';
import { decodeFp4, unpackFp4 } from '../numeric/fp4.js';
import type { TensorInfo } from '../safetensors/header.js';
import { bytesToF32 } from '../safetensors/convert.js';
import { typedView } from '../safetensors/dtype.js';
import type { TensorStore } from '../safetensors/reader.js';
import { openSafetensorsFolder } from '../safetensors/store.js';
import { type LayerFormat, type QuantizationArgs, type QuantizationConfig, type QuantizationScheme, WRITABLE_FORMATS, inferFormat } from './args.js';
import { parseQuantizationConfig } from './config.js';
import { type ScaleDType, compressedLayerLayout, groupCount, weightScaleShape } from './layout.js';
import { type MatchKind, bestMatch, isIgnored, looksLikeEmbedding } from './match.js';
import { unpackInt32, unpackZeroPoints } from './pack.js';

/** Parameter names compressed-tensors adds to a Linear (§3). */
const COMPRESSED_KEYS = [
  'weight_packed', 'weight_scale', 'weight_shape', 'weight_zero_point', 'weight_g_idx', 'weight_global_scale',
  'input_scale', 'input_zero_point', 'input_global_scale', 'output_scale', 'output_zero_point',
];

/** One compressed Linear found in a checkpoint. */
export interface CompressedModule {
  readonly module: string;
  /** The config group it belongs to (exact names beat patterns beat class names), or null if none matches. */
  readonly group: string | null;
  readonly scheme: QuantizationScheme | null;
  readonly format: LayerFormat | null;
  /** Dense weight shape `[O, I]` (from `weight_shape`, or the stored weight). */
  readonly shape: readonly [number, number] | null;
  /** This module's tensors, by parameter name (`weight_packed`, `weight_scale`, …). */
  readonly tensors: ReadonlyMap<string, TensorInfo>;
}

/** Options of {@link dequantizeWeight}. */
export interface DequantizeOptions {
  /**
   * `'F32'` (default): `(q − zp)·s` in f32. `'scale'`: additionally rounded to
   * the scale's dtype, as compressed-tensors' decompression (which computes
   * in the scale dtype) returns it.
   */
  readonly output?: 'F32' | 'scale';
  /** The scale's stored dtype, for `output: 'scale'`. */
  readonly scaleDtype?: string;
}

/**
 * Dequantizes a weight `[O, I]` (§4.3): `x = (q − zp) · s_eff`, where `q`
 * is the decoded code per element (integer, FP8 or FP4 value), `zp` the
 * zero point of the element's scale group (0 when absent), and
 * `s_eff = scale` or `scale / globalScale` (NVFP4). The scale group of
 * element (o, i) follows the strategy: tensor → 0; channel → o; group /
 * tensor_group → `[o, g_idx[i]]` or `[o, ⌊i/gs⌋]`; block → `[⌊o/bh⌋, ⌊i/bw⌋]`.
 */
export function dequantizeWeight(
  args: QuantizationArgs,
  shape: readonly [number, number],
  q: ArrayLike<number>,
  scale: Float32Array,
  extra: { zeroPoint?: Int8Array; gIdx?: Int32Array; globalScale?: number } = {},
  options: DequantizeOptions = {},
): Float32Array {
  const [o, i] = shape;
  const out = new Float32Array(o * i);
  const sShape = weightScaleShape(args, shape);
  const cols = sShape.length === 2 ? sShape[1] : 1;
  const gs = args.group_size ?? 1;
  const [bh, bw] = args.block_structure ?? [1, 1];
  const zp = extra.zeroPoint;
  const g = extra.gIdx;
  const sEff = extra.globalScale === undefined ? scale : scale.map((s) => Math.fround(s / (extra.globalScale as number)));
  const round = options.output === 'scale' ? rounder(options.scaleDtype) : undefined;
  for (let r = 0; r < o; r++) {
    for (let c = 0; c < i; c++) {
      let si: number;
      switch (args.strategy) {
        case 'tensor': si = 0; break;
        case 'channel': si = r; break;
        case 'block': si = Math.floor(r / bh) * cols + Math.floor(c / bw); break;
        default: si = r * cols + (g ? g[c] : Math.floor(c / gs));
      }
      const k = r * i + c;
      const v = Math.fround((q[k] - (zp ? zp[si] : 0)) * sEff[si]);
      out[k] = round ? round(v) : v;
    }
  }
  return out;
}

function rounder(dtype: string | undefined): ((v: number) => number) | undefined {
  if (dtype === 'BF16') return (v) => bf16ToF32(f32ToBf16(v));
  if (dtype === 'F16') return (v) => f16ToF32(f32ToF16(v));
  return undefined;
}

/**
 * A compressed-tensors checkpoint opened for reading back dense weights:
 * every module with a `weight_scale` (compressed-tensors' rule, §3.0) is
 * matched to its config group, checked against the exact key set of its
 * format, and dequantized on request; every other tensor reads as stored.
 */
export class CompressedCheckpoint {
  /** Modules stored compressed, by module path. */
  readonly modules: ReadonlyMap<string, CompressedModule>;
  /** The dense state dict's names: `<module>.weight` for compressed modules, every other tensor as stored. */
  readonly denseNames: readonly string[];
  private readonly compressedKeys = new Set<string>();
  private readonly denseSet: ReadonlySet<string>;

  private constructor(
    readonly weights: TensorStore,
    readonly config: ModelConfig | null,
    readonly quantization: QuantizationConfig | null,
    modules: Map<string, CompressedModule>,
    readonly problems: readonly string[],
  ) {
    this.modules = modules;
    for (const m of modules.values()) for (const t of m.tensors.values()) this.compressedKeys.add(t.name);
    const names = weights.tensors.map((t) => t.name).filter((n) => !this.compressedKeys.has(n));
    for (const m of modules.keys()) names.push(`${m}.weight`);
    this.denseNames = [...new Set(names)].sort(compareCodePoints);
    this.denseSet = new Set(this.denseNames);
  }

  /** Opens a model folder: config.json (its `quantization_config`, if any) and the weights. */
  static async open(folder: FolderSource): Promise<CompressedCheckpoint> {
    const config = await readModelConfig(folder);
    const weights = await openSafetensorsFolder(folder);
    try {
      return await CompressedCheckpoint.fromStore(weights, config.raw.quantization_config, `${folder.name}/config.json`, config);
    } catch (e) {
      await weights.close();
      throw e;
    }
  }

  /**
   * Builds the view over an opened store and a raw `quantization_config`
   * (undefined or null for a dense checkpoint). Structural errors are
   * CheckpointErrors; inconsistencies a loader would reject are `problems`.
   */
  static async fromStore(weights: TensorStore, quantizationConfig: unknown, configFile = 'config.json', config: ModelConfig | null = null): Promise<CompressedCheckpoint> {
    const problems: string[] = [...weights.problems];
    let qc: QuantizationConfig | null = null;
    if (quantizationConfig !== undefined && quantizationConfig !== null) {
      const parsed = parseQuantizationConfig(configFile, quantizationConfig);
      qc = parsed.config;
      problems.push(...parsed.problems);
    }
    const byModule = new Map<string, Map<string, TensorInfo>>();
    for (const t of weights.tensors) {
      const dot = t.name.lastIndexOf('.');
      if (dot < 0) continue;
      const key = t.name.slice(dot + 1);
      const module = t.name.slice(0, dot);
      if (COMPRESSED_KEYS.includes(key) || key === 'weight') {
        if (!byModule.has(module)) byModule.set(module, new Map());
        (byModule.get(module) as Map<string, TensorInfo>).set(key, t);
      }
    }
    const modules = new Map<string, CompressedModule>();
    for (const [module, tensors] of byModule) {
      if (!tensors.has('weight_scale')) {
        if (tensors.has('weight_packed')) problems.push(`${module}: has weight_packed but no weight_scale`);
        continue;
      }
      modules.set(module, await describeModule(weights, module, tensors, qc, problems));
    }
    if (modules.size > 0 && !qc) problems.push(`${configFile}: ${modules.size} modules hold compressed tensors but there is no quantization_config`);
    if (qc) {
      if (!qc.ignore.includes('lm_head') && !modules.has('lm_head') && weights.has('lm_head.weight')) {
        problems.push(`${configFile}: quantization_config.ignore does not list lm_head (vLLM expects it dense and ignored, §5.1)`);
      }
      for (const t of weights.tensors) {
        if (!t.name.endsWith('.weight') || t.shape.length !== 2) continue;
        const m = t.name.slice(0, -7);
        if (modules.has(m) || isIgnored(m, qc.ignore)) continue;
        for (const [name, g] of Object.entries(qc.config_groups)) {
          if (bestMatch(m, g.targets, !looksLikeEmbedding(m))) {
            problems.push(`${t.name}: dense, but targeted by ${name} (${g.targets.join(', ')}) and not ignored; loaders will expect compressed keys`);
            break;
          }
        }
      }
    }
    return new CompressedCheckpoint(weights, config, qc, modules, problems);
  }

  /** True when `name` is a compressed module's `<module>.weight` or any stored tensor outside compressed modules. */
  hasDense(name: string): boolean {
    return this.denseSet.has(name);
  }

  /** Shape of a dense-state-dict tensor. */
  denseShape(name: string): readonly number[] {
    const m = this.moduleOfWeight(name);
    if (m) return m.shape as readonly number[];
    return this.weights.info(name).shape;
  }

  /** A dense-state-dict tensor as f32: dequantized for compressed modules, converted for the rest. */
  async readDense(name: string, options: DequantizeOptions = {}): Promise<Float32Array> {
    const m = this.moduleOfWeight(name);
    if (m) return this.dequantizeModule(m.module, options);
    if (this.compressedKeys.has(name)) throw new CheckpointError(this.weights.name, 'is part of a compressed module; read its <module>.weight instead', { tensor: name });
    return this.weights.readF32(name);
  }

  /** Dequantizes one compressed module's weight `[O, I]` to f32. */
  async dequantizeModule(module: string, options: DequantizeOptions = {}): Promise<Float32Array> {
    const m = this.modules.get(module);
    if (!m) throw new CheckpointError(this.weights.name, 'is not a compressed module', { tensor: module });
    if (!m.scheme || !m.format || !m.shape || !m.scheme.weights) {
      throw new CheckpointError(this.weights.name, 'cannot be dequantized: no config group matches it', { tensor: module });
    }
    const args = m.scheme.weights;
    const [o, i] = m.shape;
    const need = (key: string): TensorInfo => {
      const t = m.tensors.get(key);
      if (!t) throw new CheckpointError(this.weights.name, `is missing ${key}`, { tensor: module });
      return t;
    };
    const read = async (key: string) => this.weights.readTensor(need(key).name);
    const check = (key: string, dtype: string, shape: readonly number[]) => {
      const t = need(key);
      if (t.dtype !== dtype || t.shape.join() !== shape.join()) {
        throw new CheckpointError(t.file, `is ${t.dtype} [${t.shape.join(', ')}], expected ${dtype} [${shape.join(', ')}] for ${m.format}`, { tensor: t.name });
      }
    };
    let q: ArrayLike<number>;
    try {
      if (m.format === 'pack-quantized') {
        check('weight_packed', 'I32', [o, Math.ceil((i * args.num_bits) / 32)]);
        q = unpackInt32(typedView('I32', await read('weight_packed')), o, i, args.num_bits);
      } else if (m.format === 'nvfp4-pack-quantized') {
        check('weight_packed', 'U8', [o, i / 2]);
        q = Array.from(unpackFp4(await read('weight_packed'), o, i), decodeFp4);
      } else {
        const wt = need('weight');
        check('weight', wt.dtype === 'I8' ? 'I8' : 'F8_E4M3', [o, i]);
        q = wt.dtype === 'I8' ? typedView('I8', await read('weight')) : bytesToF32(wt.dtype, await read('weight'));
      }
      const scaleInfo = need('weight_scale');
      check('weight_scale', scaleInfo.dtype, weightScaleShape(args, m.shape));
      const scale = await this.weights.readF32(scaleInfo.name);
      let zeroPoint: Int8Array | undefined;
      const zpInfo = m.tensors.get('weight_zero_point');
      if (zpInfo && !args.symmetric) {
        const bytes = await read('weight_zero_point');
        if (zpInfo.dtype === 'I32') {
          const groups = weightScaleShape(args, m.shape)[1];
          check('weight_zero_point', 'I32', [Math.ceil((o * args.num_bits) / 32), groups]);
          zeroPoint = unpackZeroPoints(typedView('I32', bytes), o, groups, args.num_bits);
        } else {
          check('weight_zero_point', 'I8', weightScaleShape(args, m.shape));
          zeroPoint = typedView('I8', bytes);
        }
      }
      let gIdx: Int32Array | undefined;
      if (m.tensors.has('weight_g_idx')) {
        check('weight_g_idx', 'I32', [i]);
        gIdx = typedView('I32', await read('weight_g_idx'));
        const groups = groupCount(args, i);
        for (let k = 0; k < gIdx.length; k++) {
          if (gIdx[k] < 0 || gIdx[k] >= groups) throw new CheckpointError(need('weight_g_idx').file, `g_idx[${k}] = ${gIdx[k]} is not a group index in [0, ${groups})`, { tensor: need('weight_g_idx').name });
        }
      }
      let globalScale: number | undefined;
      if (m.format === 'nvfp4-pack-quantized') {
        check('weight_global_scale', 'F32', [1]);
        globalScale = (await this.weights.readF32(need('weight_global_scale').name))[0];
      }
      return dequantizeWeight(args, m.shape, q, scale, { zeroPoint, gIdx, globalScale }, { scaleDtype: scaleInfo.dtype, ...options });
    } catch (e) {
      if (e instanceof CheckpointError) throw e;
      throw new CheckpointError(this.weights.name, `cannot be dequantized: ${describeError(e)}`, { tensor: module, cause: e });
    }
  }

  async close(): Promise<void> {
    await this.weights.close();
  }

  private moduleOfWeight(name: string): CompressedModule | undefined {
    return name.endsWith('.weight') ? this.modules.get(name.slice(0, -7)) : undefined;
  }
}

/** The storage family a module's tensors reveal, to pick among class-name groups and infer a missing format. */
function storedFormat(tensors: ReadonlyMap<string, TensorInfo>): 'pack' | 'nvfp4' | 'int' | 'float' | undefined {
  const packed = tensors.get('weight_packed');
  if (packed) return packed.dtype === 'U8' ? 'nvfp4' : 'pack';
  const w = tensors.get('weight');
  if (w?.dtype === 'I8') return 'int';
  if (w?.dtype === 'F8_E4M3') return 'float';
  return undefined;
}

function formatFamily(format: string): 'pack' | 'nvfp4' | 'int' | 'float' | 'naive' | undefined {
  if (format === 'pack-quantized') return 'pack';
  if (format === 'nvfp4-pack-quantized') return 'nvfp4';
  if (format === 'int-quantized') return 'int';
  if (format === 'float-quantized') return 'float';
  if (format === 'naive-quantized') return 'naive';
  return undefined;
}

async function describeModule(store: TensorStore, module: string, tensors: Map<string, TensorInfo>, qc: QuantizationConfig | null, problems: string[]): Promise<CompressedModule> {
  const stored = storedFormat(tensors);
  const result = (group: string | null, scheme: QuantizationScheme | null, format: LayerFormat | null, shape: [number, number] | null): CompressedModule => ({ module, group, scheme, format, shape, tensors });
  let shape: [number, number] | null = null;
  const ws = tensors.get('weight_shape');
  if (ws) {
    if ((ws.dtype === 'I64' || ws.dtype === 'I32') && ws.shape.length === 1 && ws.shape[0] === 2) {
      const v = typedView(ws.dtype, await store.readTensor(ws.name));
      const dims = [Number(v[0]), Number(v[1])];
      if (dims.every((d) => Number.isSafeInteger(d) && d > 0)) shape = [dims[0], dims[1]];
      else problems.push(`${ws.name}: weight_shape [${dims.join(', ')}] is not a positive shape`);
    } else problems.push(`${ws.name}: weight_shape is ${ws.dtype} [${ws.shape.join(', ')}], expected I64 [2]`);
  } else {
    const w = tensors.get('weight') ?? tensors.get('weight_packed');
    if (w && w.shape.length === 2) shape = w.name.endsWith('weight_packed') && stored === 'nvfp4' ? [w.shape[0], w.shape[1] * 2] : stored === 'pack' ? null : [w.shape[0], w.shape[1]];
  }
  if (!qc) return result(null, null, null, shape);
  if (isIgnored(module, qc.ignore)) problems.push(`${module}: holds compressed tensors but is listed in ignore`);
  const rank = { exact: 0, regex: 1, class: 2 } as const;
  let best: { name: string; kind: MatchKind; scheme: QuantizationScheme }[] = [];
  for (const [name, scheme] of Object.entries(qc.config_groups)) {
    const kind = bestMatch(module, scheme.targets);
    if (!kind) continue;
    if (best.length === 0 || rank[kind] < rank[best[0].kind]) best = [{ name, kind, scheme }];
    else if (rank[kind] === rank[best[0].kind]) best.push({ name, kind, scheme });
  }
  const formatOf = (scheme: QuantizationScheme): string | null => scheme.format ?? (qc.format !== 'mixed-precision' ? qc.format : null);
  if (best.length > 1 && stored) {
    // Several class-name groups (e.g. mixed-precision with "Linear" everywhere): keep those whose format fits the stored tensors.
    const fits = best.filter(({ scheme }) => {
      const f = formatOf(scheme);
      const fam = f ? formatFamily(f) : undefined;
      if (!fam || fam === 'naive') return stored === 'int' || stored === 'float' || !fam;
      if (fam !== stored) return false;
      if (stored === 'pack' && shape && scheme.weights) return tensors.get('weight_packed')?.shape[1] === Math.ceil((shape[1] * scheme.weights.num_bits) / 32);
      return true;
    });
    if (fits.length > 0) best = fits;
  }
  if (best.length === 0) {
    problems.push(`${module}: holds compressed tensors but no config group targets it`);
    return result(null, null, null, shape);
  }
  const { name: group, scheme } = best[0];
  let format = formatOf(scheme);
  if (format === null || format === 'dense') {
    try {
      format = inferFormat(scheme);
    } catch {
      format = null;
    }
  }
  if (format === null || !(WRITABLE_FORMATS as readonly string[]).includes(format)) {
    problems.push(`${module}: format ${format ?? '(none)'} of ${group} is not one this reader dequantizes`);
    return result(group, scheme, null, shape);
  }
  const lf = format as LayerFormat;
  if (!shape) {
    problems.push(`${module}: cannot tell the weight shape (no weight_shape)`);
    return result(group, scheme, lf, null);
  }
  const scaleDtype = tensors.get('weight_scale')?.dtype;
  try {
    const specs = compressedLayerLayout(lf, scheme, shape, (scaleDtype === 'F32' || scaleDtype === 'F16' ? scaleDtype : 'BF16') as ScaleDType);
    const want = new Map(specs.map((s) => [s.key, s]));
    for (const [key, t] of tensors) {
      const s = want.get(key);
      if (!s) problems.push(`${t.name}: extra key for ${lf} with ${group} (vLLM rejects unexpected keys)`);
      else if (t.shape.join() !== s.shape.join() || (t.dtype !== s.dtype && !(s.role === 'weightScale' || s.role === 'inputScale' || s.role === 'outputScale'))) {
        problems.push(`${t.name}: ${t.dtype} [${t.shape.join(', ')}], expected ${s.dtype} [${s.shape.join(', ')}]`);
      }
    }
    for (const s of specs) if (!tensors.has(s.key)) problems.push(`${module}.${s.key}: missing (${lf} with ${group} needs it)`);
  } catch (e) {
    problems.push(`${module}: ${describeError(e)}`);
  }
  return result(group, scheme, lf, shape);
}
