import { CheckpointError, describeError } from '../errors.js';
import { type FolderSource, type OutputFolder, writeWholeFile } from '../folder.js';
import { CONFIG_FILE, buildOutputConfig, copyCarriedFiles } from '../model/folder.js';
import type { TensorStore } from '../safetensors/reader.js';
import { type TensorEntry, type WrittenWeights, writeSafetensorsCheckpoint } from '../safetensors/writer.js';
import { bytesOf } from '../safetensors/dtype.js';
import { f32ArrayToBf16, f32ArrayToF16, f32ArrayToFp8E4M3 } from '../numeric/float.js';
import { packFp4 } from '../numeric/fp4.js';
import type { QuantizationArgs, QuantizationConfig, QuantizationScheme } from './args.js';
import { type QuantizationConfigInput, buildQuantizationConfig, scaleDtypeFor } from './config.js';
import { type LayerRole, type LayerTensorSpec, type ScaleDType, compressedLayerLayout, groupCount } from './layout.js';
import { bestMatch, isIgnored, looksLikeEmbedding } from './match.js';
import { packInt32, packZeroPoints, packedWords } from './pack.js';

/** A value, or a function producing it when the writer reaches it (streaming). */
export type Lazy<T> = T | (() => T | Promise<T>);

/**
 * One quantized Linear as the quantizer hands it over: already-quantized
 * data as typed arrays, row-major, unpacked. Each field is pulled once, when
 * its tensor is written, so producers can hand over functions and free
 * memory as the file streams out.
 */
export interface QuantizedLayer {
  /** Module path, e.g. `model.layers.0.self_attn.q_proj`. */
  readonly module: string;
  /** The `config_groups` key whose scheme quantized it. */
  readonly group: string;
  /** Dense weight shape `[O, I]`. */
  readonly shape: readonly [number, number];
  /**
   * `[O·I]` codes: int formats → signed `Int8Array` in `[-2^(b-1), 2^(b-1)-1]`;
   * FP8 → `Uint8Array` of E4M3 bit patterns; NVFP4 → `Uint8Array` of E2M1 codes
   * 0–15, one per element (the writer packs them). pack-quantized also takes
   * an `Int32Array` of words `[O, ceil(I·b/32)]` already packed as
   * pack_to_int32 does (the GPU quantizer's int32 layout), written as is.
   */
  readonly weight: Lazy<Int8Array | Uint8Array | Int32Array>;
  /** f32 scales shaped per strategy (§3.0); written in the scale dtype with RNE (F8_E4M3 for NVFP4). */
  readonly weightScale: Lazy<Float32Array>;
  /** Signed zero points shaped like the scale; only for asymmetric schemes. */
  readonly weightZeroPoint?: Lazy<Int8Array>;
  /** `[I]` group index per input column; only for `actorder: "group"`. */
  readonly weightGIdx?: Lazy<Int32Array>;
  /** `[1]` NVFP4 global weight scale. */
  readonly weightGlobalScale?: Lazy<Float32Array>;
  /** `[1]` static input scale. */
  readonly inputScale?: Lazy<Float32Array>;
  readonly inputZeroPoint?: Lazy<Int8Array>;
  /** `[1]` NVFP4 global input scale. */
  readonly inputGlobalScale?: Lazy<Float32Array>;
  readonly outputScale?: Lazy<Float32Array>;
  readonly outputZeroPoint?: Lazy<Int8Array>;
}

const ROLE_FIELD: Record<Exclude<LayerRole, 'weightShape'>, keyof QuantizedLayer> = {
  weight: 'weight', weightScale: 'weightScale', weightZeroPoint: 'weightZeroPoint', weightGIdx: 'weightGIdx', weightGlobalScale: 'weightGlobalScale',
  inputScale: 'inputScale', inputZeroPoint: 'inputZeroPoint', inputGlobalScale: 'inputGlobalScale', outputScale: 'outputScale', outputZeroPoint: 'outputZeroPoint',
};
const OPTIONAL_FIELDS = ['weightZeroPoint', 'weightGIdx', 'weightGlobalScale', 'inputScale', 'inputZeroPoint', 'inputGlobalScale', 'outputScale', 'outputZeroPoint'] as const;

/** Everything a compressed checkpoint is made of. */
export interface CompressedCheckpointInput {
  /** The source model's config.json object; `quantization_config` is added (or replaced). */
  readonly config: Readonly<Record<string, unknown>>;
  /** The quantization config; null writes a dense checkpoint and leaves config.json as given. */
  readonly quantization: QuantizationConfigInput | null;
  /** Quantized Linear layers. */
  readonly layers: readonly QuantizedLayer[];
  /**
   * Tensors written unchanged (embeddings, norms, lm_head, biases, KV-cache
   * scales, unquantized Linears). A quantized module's `<module>.weight` is
   * dropped from here automatically; see {@link denseEntries}.
   */
  readonly dense: readonly TensorEntry[];
  /** recipe.yaml text written beside config.json. */
  readonly recipe?: string;
  /** Folder whose tokenizer / generation files are copied unchanged (see `isCarriedFile`). */
  readonly carryFrom?: FolderSource;
  /** Scale dtype; default from `torch_dtype` ({@link scaleDtypeFor}). */
  readonly scaleDtype?: ScaleDType;
  /** Shard size limit in tensor bytes (default 5 GB). */
  readonly maxShardBytes?: number;
}

/** What {@link writeCompressedCheckpoint} wrote. */
export interface WrittenCheckpoint {
  readonly weights: WrittenWeights;
  /** The `quantization_config` written, or null for a dense checkpoint. */
  readonly quantizationConfig: QuantizationConfig | null;
  /** Every file written, weights included. */
  readonly files: readonly string[];
}

/**
 * Lazy pass-through entries for every tensor of `store` except `exclude`,
 * streamed from the source when written.
 */
export function denseEntries(store: TensorStore, exclude: ReadonlySet<string> = new Set()): TensorEntry[] {
  return store.tensors.filter((t) => !exclude.has(t.name)).map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: () => store.streamTensor(t.name) }));
}

/**
 * Writes a compressed-tensors checkpoint into `out`: the weights (quantized
 * layers with exactly the keys of §3 for their format, dense tensors
 * unchanged; canonical safetensors layout, sharded above
 * `maxShardBytes`), config.json with `quantization_config`, recipe.yaml,
 * and the carried tokenizer files. Everything is checked before the first
 * byte is written: each layer's data against its scheme (no missing or extra
 * components), module names against `targets`/`ignore`, q/k/v and gate/up
 * consistency, and Linear weights that a group targets but that were not
 * quantized. Use a Node `NodeOutputFolder` (or `writeOutputFolder`) so a
 * failure leaves nothing at the target.
 */
export async function writeCompressedCheckpoint(out: OutputFolder, input: CompressedCheckpointInput): Promise<WrittenCheckpoint> {
  const where = out.name;
  const scaleDtype = input.scaleDtype ?? scaleDtypeFor((input.config.torch_dtype ?? input.config.dtype) as string | undefined);
  let qc: QuantizationConfig | null = null;
  const entries: TensorEntry[] = [];
  if (input.quantization) {
    const lmHeadQuantized = input.layers.some((l) => l.module === 'lm_head');
    const resolved = buildQuantizationConfig(input.quantization, { file: `${where}/${CONFIG_FILE}`, lmHeadQuantized });
    qc = resolved.config;
    const seen = new Set<string>();
    const fusedGlobals = new Map<string, { module: string; value: number }>();
    for (const layer of input.layers) {
      if (seen.has(layer.module)) throw new CheckpointError(where, 'is given twice', { tensor: layer.module });
      seen.add(layer.module);
      const scheme = qc.config_groups[layer.group];
      if (!scheme) throw new CheckpointError(where, `names config group "${layer.group}", which is not in config_groups (${Object.keys(qc.config_groups).join(', ')})`, { tensor: layer.module });
      if (!bestMatch(layer.module, scheme.targets)) throw new CheckpointError(where, `is not matched by the targets of "${layer.group}" (${scheme.targets.join(', ')})`, { tensor: layer.module });
      if (isIgnored(layer.module, qc.ignore)) throw new CheckpointError(where, 'is quantized but listed in ignore', { tensor: layer.module });
      entries.push(...layerEntries(where, layer, scheme, resolved.formats.get(layer.group) as never, scaleDtype, fusedGlobals));
    }
  } else if (input.layers.length > 0) {
    throw new CheckpointError(where, 'quantized layers were given without a quantization config');
  }

  const generated = new Set(entries.map((e) => e.name));
  const quantized = new Map(input.layers.map((l) => [l.module, l]));
  for (const e of input.dense) {
    const module = e.name.endsWith('.weight') ? e.name.slice(0, -'.weight'.length) : undefined;
    if (module !== undefined && quantized.has(module)) continue; // replaced by its compressed form
    if (generated.has(e.name)) throw new CheckpointError(where, 'a dense tensor has the name of a compressed tensor', { tensor: e.name });
    if (qc && module !== undefined && e.shape.length === 2) checkNotTargeted(where, module, qc);
    entries.push(e);
  }
  if (qc) checkFusedConsistency(where, input.layers, qc, input.dense);

  const weights = await writeSafetensorsCheckpoint(out, entries, { maxShardBytes: input.maxShardBytes });
  const files = [...weights.files];
  if (weights.sharded) files.push('model.safetensors.index.json');
  await writeWholeFile(out, CONFIG_FILE, qc ? buildOutputConfig(input.config, qc as unknown as Record<string, unknown>) : buildOutputConfig(input.config, (input.config.quantization_config as Record<string, unknown> | undefined) ?? null));
  files.push(CONFIG_FILE);
  if (input.recipe !== undefined) {
    await writeWholeFile(out, 'recipe.yaml', input.recipe);
    files.push('recipe.yaml');
  }
  if (input.carryFrom) files.push(...(await copyCarriedFiles(input.carryFrom, out)));
  return { weights, quantizationConfig: qc, files };
}

/** A Linear weight a group targets must have been quantized, or loaders expect keys that are not there. */
function checkNotTargeted(where: string, module: string, qc: QuantizationConfig): void {
  if (isIgnored(module, qc.ignore)) return;
  for (const [name, g] of Object.entries(qc.config_groups)) {
    if (bestMatch(module, g.targets, !looksLikeEmbedding(module))) {
      throw new CheckpointError(where, `is targeted by "${name}" (${g.targets.join(', ')}) but no quantized data was given; quantize it or add it to ignore`, { tensor: `${module}.weight` });
    }
  }
}

const FUSED = [/^(.*)\.(q_proj|k_proj|v_proj)$/, /^(.*)\.(gate_proj|up_proj)$/];

/** vLLM fuses q/k/v and gate/up; their schemes and ignore status must agree (§2.5). */
function checkFusedConsistency(where: string, layers: readonly QuantizedLayer[], qc: QuantizationConfig, dense: readonly TensorEntry[]): void {
  const state = new Map<string, string>();
  for (const e of dense) if (e.name.endsWith('.weight') && e.shape.length === 2) state.set(e.name.slice(0, -7), 'not quantized');
  for (const l of layers) {
    const { targets: _t, ...scheme } = qc.config_groups[l.group];
    state.set(l.module, `quantized as ${JSON.stringify(scheme)}`);
  }
  for (const re of FUSED) {
    const families = new Map<string, [string, string][]>();
    for (const [m, s] of state) {
      const hit = re.exec(m);
      if (hit) families.set(hit[1] + re.source, [...(families.get(hit[1] + re.source) ?? []), [m, s]]);
    }
    for (const members of families.values()) {
      if (new Set(members.map(([, s]) => s)).size > 1) {
        const desc = members.map(([m, s]) => `${m}: ${s.startsWith('quantized') ? 'quantized' : s}`).join('; ');
        throw new CheckpointError(where, `fused layers must share one scheme and ignore status, but ${desc}`, { tensor: members[0][0] });
      }
    }
  }
}

async function resolve<T>(v: Lazy<T>): Promise<T> {
  return typeof v === 'function' ? await (v as () => T | Promise<T>)() : v;
}

/** The fused family a module belongs to (`<prefix>.qkv` or `<prefix>.gate_up`), if any. */
function fusedFamily(module: string): string | undefined {
  for (const [re, tag] of [[FUSED[0], 'qkv'], [FUSED[1], 'gate_up']] as const) {
    const m = re.exec(module);
    if (m) return `${m[1]}.${tag}`;
  }
  return undefined;
}

function layerEntries(
  where: string, layer: QuantizedLayer, scheme: QuantizationScheme, format: Parameters<typeof compressedLayerLayout>[0], scaleDtype: ScaleDType,
  fusedGlobals: Map<string, { module: string; value: number }>,
): TensorEntry[] {
  const fail = (detail: string, key?: string): never => {
    throw new CheckpointError(where, detail, { tensor: key ? `${layer.module}.${key}` : layer.module });
  };
  let specs: LayerTensorSpec[];
  try {
    specs = compressedLayerLayout(format, scheme, layer.shape, scaleDtype);
  } catch (e) {
    return fail(`cannot be written as ${format} with group "${layer.group}": ${describeError(e)}`);
  }
  const roles = new Set(specs.map((s) => s.role));
  for (const f of OPTIONAL_FIELDS) {
    const role = f as LayerRole;
    if (layer[f] !== undefined && !roles.has(role)) {
      fail(`has ${f}, but group "${layer.group}" (${format}) has no such tensor; writing it would add a key vLLM rejects`);
    }
  }
  for (const s of specs) {
    if (s.role !== 'weightShape' && layer[ROLE_FIELD[s.role]] === undefined) fail(`is missing ${ROLE_FIELD[s.role]}, which ${format} with group "${layer.group}" needs for ${s.key}`);
  }
  const w = scheme.weights as QuantizationArgs;
  return specs.map((spec) => ({
    name: `${layer.module}.${spec.key}`,
    dtype: spec.dtype,
    shape: spec.shape,
    data: async () => {
      try {
        const bytes = await encodeTensor(layer, spec, format, w, scheme, scaleDtype);
        if (spec.role === 'weightGlobalScale' || spec.role === 'inputGlobalScale') checkFusedGlobal(layer.module, spec.key, new Float32Array(bytes.slice().buffer)[0], fusedGlobals);
        return bytes;
      } catch (e) {
        if (e instanceof CheckpointError) throw e;
        return fail(describeError(e), spec.key);
      }
    },
  }));
}

/**
 * vLLM fuses q/k/v and gate/up and keeps one NVFP4 global scale per fused
 * layer (it takes the max), so the shards' global scales must be identical
 * (§4.6); checked as each one is written.
 */
function checkFusedGlobal(module: string, key: string, value: number, seen: Map<string, { module: string; value: number }>): void {
  const family = fusedFamily(module);
  if (!family) return;
  const prev = seen.get(`${family}/${key}`);
  if (!prev) seen.set(`${family}/${key}`, { module, value });
  else if (!Object.is(prev.value, value)) {
    throw new RangeError(`${key} ${value} differs from ${prev.module}'s ${prev.value}; fused layers need one global scale (vLLM keeps the max)`);
  }
}

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function expectLength(what: string, got: { length: number }, want: number, shape: readonly number[]): void {
  if (got.length !== want) throw new RangeError(`${what} has ${got.length} values, expected ${want} for shape [${shape.join(', ')}]`);
}

function checkIntRange(what: string, a: Int8Array, bits: number): void {
  const lo = -(2 ** (bits - 1));
  const hi = 2 ** (bits - 1) - 1;
  for (let i = 0; i < a.length; i++) if (a[i] < lo || a[i] > hi) throw new RangeError(`${what}[${i}] = ${a[i]} is outside the signed ${bits}-bit range [${lo}, ${hi}]`);
}

/**
 * Index of the first E4M3 NaN code (0x7f or 0xff) in `v`, or −1; four bytes
 * at a time where aligned (a zero byte in (w & 0x7f7f7f7f) ^ 0x7f7f7f7f marks
 * one), since FP8 weights run to gigabytes.
 */
function firstFp8NaN(v: Uint8Array): number {
  let k = 0;
  if (v.byteOffset % 4 === 0) {
    const words = new Uint32Array(v.buffer, v.byteOffset, v.length >>> 2);
    for (; k < words.length; k++) {
      const t = (words[k] & 0x7f7f7f7f) ^ 0x7f7f7f7f;
      if (((t - 0x01010101) & ~t & 0x80808080) !== 0) break;
    }
    k *= 4;
  }
  for (; k < v.length; k++) if ((v[k] & 0x7f) === 0x7f) return k;
  return -1;
}

function encodeScale(what: string, values: Float32Array, dtype: LayerTensorSpec['dtype']): Uint8Array {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) throw new RangeError(`${what}[${i}] is ${values[i]}`);
  if (dtype === 'F32') return bytesOf(values);
  if (dtype === 'BF16') return bytesOf(f32ArrayToBf16(values));
  if (dtype === 'F16') return bytesOf(f32ArrayToF16(values));
  if (dtype === 'F8_E4M3') return f32ArrayToFp8E4M3(values);
  throw new RangeError(`cannot store scales as ${dtype}`);
}

async function encodeTensor(layer: QuantizedLayer, spec: LayerTensorSpec, format: string, w: QuantizationArgs, scheme: QuantizationScheme, scaleDtype: ScaleDType): Promise<Uint8Array> {
  const [o, i] = layer.shape;
  switch (spec.role) {
    case 'weightShape':
      return bytesOf(BigInt64Array.from([BigInt(o), BigInt(i)]));
    case 'weight': {
      const v = await resolve(layer.weight);
      if (format === 'pack-quantized' && v instanceof Int32Array) {
        expectLength('packed weight', v, o * packedWords(i, w.num_bits), [o, packedWords(i, w.num_bits)]);
        return bytesOf(v);
      }
      if (v instanceof Int32Array) throw new RangeError(`weight: int32 words are only taken for pack-quantized, not ${format}`);
      expectLength('weight', v, o * i, [o, i]);
      if (format === 'pack-quantized') {
        if (!(v instanceof Int8Array)) throw new RangeError('pack-quantized weight codes must be an Int8Array');
        return bytesOf(packInt32(v, o, i, w.num_bits));
      }
      if (format === 'nvfp4-pack-quantized') {
        if (!(v instanceof Uint8Array)) throw new RangeError('NVFP4 weight codes must be a Uint8Array of E2M1 codes');
        return packFp4(v, o, i);
      }
      if (spec.dtype === 'I8') {
        if (!(v instanceof Int8Array)) throw new RangeError('int weight codes must be an Int8Array');
        checkIntRange('weight', v, w.num_bits);
        return bytesOf(v);
      }
      if (!(v instanceof Uint8Array)) throw new RangeError('FP8 weights must be a Uint8Array of E4M3 bytes');
      const nan = firstFp8NaN(v);
      if (nan >= 0) throw new RangeError(`weight[${nan}] is the FP8 NaN code 0x${v[nan].toString(16)}`);
      return v;
    }
    case 'weightScale':
    case 'inputScale':
    case 'outputScale':
    case 'weightGlobalScale':
    case 'inputGlobalScale': {
      const v = await resolve(layer[ROLE_FIELD[spec.role]] as Lazy<Float32Array>);
      if (!(v instanceof Float32Array)) throw new RangeError(`${spec.role} must be a Float32Array`);
      expectLength(spec.role, v, numel(spec.shape), spec.shape);
      return encodeScale(spec.role, v, spec.dtype);
    }
    case 'weightZeroPoint': {
      const v = await resolve(layer.weightZeroPoint as Lazy<Int8Array>);
      if (!(v instanceof Int8Array)) throw new RangeError('weightZeroPoint must be an Int8Array');
      const scaleShape = spec.dtype === 'I32' ? [o, spec.shape[1]] : spec.shape;
      expectLength('weightZeroPoint', v, numel(scaleShape), scaleShape);
      checkIntRange('weightZeroPoint', v, w.num_bits);
      return spec.dtype === 'I32' ? bytesOf(packZeroPoints(v, o, spec.shape[1], w.num_bits)) : bytesOf(v);
    }
    case 'inputZeroPoint':
    case 'outputZeroPoint': {
      const v = await resolve(layer[ROLE_FIELD[spec.role]] as Lazy<Int8Array>);
      if (!(v instanceof Int8Array)) throw new RangeError(`${spec.role} must be an Int8Array`);
      expectLength(spec.role, v, 1, [1]);
      const args = (spec.role === 'inputZeroPoint' ? scheme.input_activations : scheme.output_activations) as QuantizationArgs;
      checkIntRange(spec.role, v, args.num_bits);
      return bytesOf(v);
    }
    case 'weightGIdx': {
      const v = await resolve(layer.weightGIdx as Lazy<Int32Array>);
      if (!(v instanceof Int32Array)) throw new RangeError('weightGIdx must be an Int32Array');
      expectLength('weightGIdx', v, i, [i]);
      checkGIdx(v, w, i);
      return bytesOf(v);
    }
  }
  throw new RangeError(`no encoder for ${spec.role} (scale dtype ${scaleDtype})`);
}

/**
 * compressed-tensors reorders columns by argsort(g_idx) and then assumes
 * contiguous groups of exactly group_size (§3.1), so every group id must
 * occur exactly as often as a contiguous group has columns.
 */
function checkGIdx(g: Int32Array, w: QuantizationArgs, inFeatures: number): void {
  const groups = groupCount(w, inFeatures);
  const gs = w.group_size as number;
  const counts = new Int32Array(groups);
  for (let k = 0; k < g.length; k++) {
    if (g[k] < 0 || g[k] >= groups) throw new RangeError(`weightGIdx[${k}] = ${g[k]} is not a group index in [0, ${groups})`);
    counts[g[k]]++;
  }
  for (let k = 0; k < groups; k++) {
    const want = Math.min(gs, inFeatures - k * gs);
    if (counts[k] !== want) throw new RangeError(`group ${k} appears ${counts[k]} times in weightGIdx, expected ${want} (group_size ${gs})`);
  }
}
