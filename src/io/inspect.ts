import { CheckpointError } from './errors.js';
import type { FolderSource } from './folder.js';
import type { ByteSource } from './source.js';
import { type ModelConfig } from './model/config.js';
import { CONFIG_FILE, readModelConfig } from './model/folder.js';
import type { TensorStore } from './safetensors/reader.js';
import { openSafetensors } from './safetensors/reader.js';
import { openSafetensorsFolder } from './safetensors/store.js';
import { CompressedCheckpoint } from './compressed/reader.js';
import { describeArgs } from './compressed/config.js';
import { compareNatural } from './safetensors/writer.js';

/** One tensor row of an inspection. */
export interface InspectedTensor {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly bytes: number;
  readonly file: string;
}

/** One config group, summarised. */
export interface InspectedGroup {
  readonly name: string;
  readonly format: string | null;
  readonly targets: readonly string[];
  readonly weights: string | null;
  readonly inputActivations: string | null;
  readonly outputActivations: string | null;
  /** Modules stored under this group. */
  readonly modules: number;
  /** Nominal bits per weight (`num_bits`). */
  readonly bits: number | null;
  /** Stored bits per weight of this group's modules: every tensor of the module (codes, scales, zero points, g_idx) over O·I. */
  readonly storedBitsPerWeight: number | null;
}

/** What `wgc inspect` reports. */
export interface InspectReport {
  readonly path: string;
  readonly kind: 'file' | 'folder';
  readonly files: readonly string[];
  readonly metadata: Readonly<Record<string, string>>;
  readonly tensors: readonly InspectedTensor[];
  readonly totals: {
    readonly tensors: number;
    readonly bytes: number;
    /** Elements of the dense model: O·I for compressed modules, numel for the rest. */
    readonly parameters: number;
    /** Stored bits per dense parameter over the whole checkpoint. */
    readonly bitsPerParameter: number;
    readonly byDtype: Readonly<Record<string, { tensors: number; bytes: number }>>;
  };
  readonly model: {
    readonly architecture: string;
    readonly modelType: string;
    readonly layers: number;
    readonly hiddenSize: number;
    readonly heads: number;
    readonly kvHeads: number;
    readonly vocabSize: number;
    readonly torchDtype: string | null;
    readonly tieWordEmbeddings: boolean;
    readonly rope: string;
  } | null;
  readonly quantization: {
    readonly quantMethod: string;
    readonly version: string;
    readonly format: string;
    readonly status: string;
    readonly ignore: readonly string[];
    readonly groups: readonly InspectedGroup[];
    readonly kvCache: string | null;
    readonly modules: number;
    readonly quantizedWeights: number;
    readonly storedBitsPerWeight: number | null;
  } | null;
  readonly problems: readonly string[];
}

/**
 * Inspects a model folder: config, weights (single or sharded), the
 * quantization config, and everything a loader would reject. An unreadable
 * weights file is a CheckpointError (there is nothing to list); a missing or
 * unparsable config.json is reported as a problem.
 */
export async function inspectFolder(folder: FolderSource): Promise<InspectReport> {
  const problems: string[] = [];
  let config: ModelConfig | null = null;
  try {
    config = await readModelConfig(folder);
  } catch (e) {
    if (!(e instanceof CheckpointError)) throw e;
    problems.push(e.message);
  }
  const store = await openSafetensorsFolder(folder);
  try {
    return await report(folder.name, 'folder', store, config, config?.raw.quantization_config, `${folder.name}/${CONFIG_FILE}`, problems);
  } finally {
    await store.close();
  }
}

/** Inspects one `.safetensors` file (no config). */
export async function inspectSafetensorsFile(source: ByteSource): Promise<InspectReport> {
  const file = await openSafetensors(source);
  try {
    return await report(source.name, 'file', file, null, undefined, CONFIG_FILE, []);
  } finally {
    await file.close();
  }
}

async function report(path: string, kind: 'file' | 'folder', store: TensorStore, config: ModelConfig | null, qcRaw: unknown, configFile: string, problems: string[]): Promise<InspectReport> {
  const ckpt = await CompressedCheckpoint.fromStore(store, qcRaw, configFile, config);
  problems.push(...ckpt.problems);
  if (store.metadata.format !== 'pt') {
    problems.push(`${path}: __metadata__.format is ${store.metadata.format === undefined ? 'missing' : `"${store.metadata.format.slice(0, 60)}"`}; transformers requires "pt" (§1.4)`);
  }
  const tensors = store.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, bytes: t.byteLength, file: t.file })).sort((a, b) => compareNatural(a.name, b.name));
  const byDtype: Record<string, { tensors: number; bytes: number }> = {};
  let bytes = 0;
  for (const t of tensors) {
    byDtype[t.dtype] ??= { tensors: 0, bytes: 0 };
    byDtype[t.dtype].tensors++;
    byDtype[t.dtype].bytes += t.bytes;
    bytes += t.bytes;
  }
  let parameters = 0;
  for (const n of ckpt.denseNames) {
    const m = n.endsWith('.weight') ? ckpt.modules.get(n.slice(0, -7)) : undefined;
    if (m && !m.shape) continue;
    parameters += ckpt.denseShape(n).reduce((a, b) => a * b, 1);
  }
  if (config) checkConfigAgainstWeights(config, ckpt, problems);

  let quantization: InspectReport['quantization'] = null;
  const qc = ckpt.quantization;
  if (qc) {
    let quantizedWeights = 0;
    let quantizedBits = 0;
    const perGroup = new Map<string, { modules: number; weights: number; bits: number }>();
    for (const m of ckpt.modules.values()) {
      if (!m.shape) continue;
      const w = m.shape[0] * m.shape[1];
      let b = 0;
      // Activation scales are not part of the weight's storage.
      for (const [key, t] of m.tensors) if (!key.startsWith('input_') && !key.startsWith('output_')) b += t.byteLength * 8;
      quantizedWeights += w;
      quantizedBits += b;
      const g = perGroup.get(m.group ?? '') ?? { modules: 0, weights: 0, bits: 0 };
      g.modules++;
      g.weights += w;
      g.bits += b;
      perGroup.set(m.group ?? '', g);
    }
    quantization = {
      quantMethod: qc.quant_method,
      version: qc.version,
      format: qc.format,
      status: qc.quantization_status,
      ignore: qc.ignore,
      kvCache: qc.kv_cache_scheme ? describeArgs(qc.kv_cache_scheme) : null,
      groups: Object.entries(qc.config_groups).map(([name, g]) => {
        const s = perGroup.get(name);
        return {
          name,
          format: g.format,
          targets: g.targets,
          weights: g.weights ? describeArgs(g.weights) : null,
          inputActivations: g.input_activations ? describeArgs(g.input_activations) : null,
          outputActivations: g.output_activations ? describeArgs(g.output_activations) : null,
          modules: s?.modules ?? 0,
          bits: g.weights?.num_bits ?? null,
          storedBitsPerWeight: s && s.weights > 0 ? s.bits / s.weights : null,
        };
      }),
      modules: ckpt.modules.size,
      quantizedWeights,
      storedBitsPerWeight: quantizedWeights > 0 ? quantizedBits / quantizedWeights : null,
    };
  }
  return {
    path,
    kind,
    files: [...new Set(store.tensors.map((t) => t.file))].sort(),
    metadata: store.metadata,
    tensors,
    totals: { tensors: tensors.length, bytes, parameters, bitsPerParameter: parameters > 0 ? (bytes * 8) / parameters : 0, byDtype },
    model: config
      ? {
          architecture: config.architecture,
          modelType: config.modelType,
          layers: config.numHiddenLayers,
          hiddenSize: config.hiddenSize,
          heads: config.numAttentionHeads,
          kvHeads: config.numKeyValueHeads,
          vocabSize: config.vocabSize,
          torchDtype: config.torchDtype,
          tieWordEmbeddings: config.tieWordEmbeddings,
          rope: `theta ${config.rope.theta}${config.rope.scaling ? `, ${config.rope.scaling.ropeType}${config.rope.scaling.factor ? ` ×${config.rope.scaling.factor}` : ''}` : ''}`,
        }
      : null,
    quantization,
    problems,
  };
}

/** Cross-checks config.json sizes against the stored tensors of Llama-style models. */
function checkConfigAgainstWeights(config: ModelConfig, ckpt: CompressedCheckpoint, problems: string[]): void {
  const shapeOf = (n: string) => (ckpt.hasDense(n) ? ckpt.denseShape(n) : undefined);
  const emb = shapeOf('model.embed_tokens.weight');
  if (emb && (emb[0] !== config.vocabSize || emb[1] !== config.hiddenSize)) {
    problems.push(`model.embed_tokens.weight is [${emb.join(', ')}] but config.json says vocab_size ${config.vocabSize}, hidden_size ${config.hiddenSize}`);
  }
  const layers = new Set<number>();
  for (const n of ckpt.denseNames) {
    const m = /^model\.layers\.(\d+)\./.exec(n);
    if (m) layers.add(Number(m[1]));
  }
  if (layers.size > 0 && layers.size !== config.numHiddenLayers) {
    problems.push(`the weights hold ${layers.size} decoder layers but config.json says num_hidden_layers ${config.numHiddenLayers}`);
  }
  if (!config.tieWordEmbeddings && emb && !ckpt.hasDense('lm_head.weight')) problems.push('tie_word_embeddings is false but there is no lm_head.weight');
}

function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(2)} ${units[u]}`;
}

/** The human-readable form of a report (what `wgc inspect` prints without --json). */
export function formatInspectReport(r: InspectReport): string {
  const lines: string[] = [];
  lines.push(`checkpoint   ${r.path} (${r.kind}, ${r.files.length} weight file${r.files.length === 1 ? '' : 's'})`);
  if (r.model) {
    const m = r.model;
    lines.push(`model        ${m.architecture} (${m.modelType}): ${m.layers} layers, hidden ${m.hiddenSize}, heads ${m.heads}/${m.kvHeads} kv, vocab ${m.vocabSize}, ${m.torchDtype ?? 'dtype ?'}, rope ${m.rope}${m.tieWordEmbeddings ? ', tied embeddings' : ''}`);
  }
  const t = r.totals;
  lines.push(`tensors      ${t.tensors}, ${t.bytes} bytes (${fmtBytes(t.bytes)}), ${t.parameters} parameters, ${t.bitsPerParameter.toFixed(2)} bits/parameter`);
  for (const [d, s] of Object.entries(t.byDtype).sort()) lines.push(`  ${d.padEnd(8)} ${String(s.tensors).padStart(6)} tensors ${String(s.bytes).padStart(14)} bytes`);
  lines.push('');
  const nameW = Math.min(64, Math.max(4, ...r.tensors.map((x) => x.name.length)));
  const shapeW = Math.max(5, ...r.tensors.map((x) => `[${x.shape.join(', ')}]`.length));
  const multi = r.files.length > 1;
  lines.push(`${'name'.padEnd(nameW)}  ${'dtype'.padEnd(7)}  ${'shape'.padEnd(shapeW)}  ${'bytes'.padStart(12)}${multi ? '  file' : ''}`);
  for (const x of r.tensors) {
    lines.push(`${x.name.padEnd(nameW)}  ${x.dtype.padEnd(7)}  ${`[${x.shape.join(', ')}]`.padEnd(shapeW)}  ${String(x.bytes).padStart(12)}${multi ? `  ${x.file.split('/').pop()}` : ''}`);
  }
  lines.push('');
  const q = r.quantization;
  if (q) {
    lines.push(`quantization ${q.quantMethod} ${q.version || '(no version)'}, format ${q.format}, status ${q.status}`);
    for (const g of q.groups) {
      const parts = [`${g.name}: ${g.format ?? '(format from global)'}`, `weights ${g.weights ?? 'none'}`];
      if (g.inputActivations) parts.push(`input ${g.inputActivations}`);
      if (g.outputActivations) parts.push(`output ${g.outputActivations}`);
      parts.push(`targets ${g.targets.join(', ')}`);
      parts.push(`${g.modules} modules`);
      if (g.storedBitsPerWeight !== null) parts.push(`${g.storedBitsPerWeight.toFixed(3)} bits/weight stored`);
      lines.push(`  ${parts.join('; ')}`);
    }
    lines.push(`  ignore: ${q.ignore.length ? q.ignore.join(', ') : '(none)'}`);
    if (q.kvCache) lines.push(`  kv cache: ${q.kvCache}`);
    lines.push(`  ${q.modules} compressed modules, ${q.quantizedWeights} weights${q.storedBitsPerWeight !== null ? `, ${q.storedBitsPerWeight.toFixed(3)} bits/weight stored (codes + scales + zero points)` : ''}`);
  } else {
    lines.push('quantization none (dense checkpoint)');
  }
  lines.push(r.problems.length === 0 ? 'problems     none' : `problems     ${r.problems.length}`);
  for (const p of r.problems) lines.push(`  - ${p}`);
  return lines.join('\n');
}
