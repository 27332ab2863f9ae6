/**
 * The save step of the lifecycle path: a model whose Linears a
 * QuantizationModifier quantized (codes and qparams held as parameters, see
 * src/modifiers/quantization/base.ts) → a compressed-tensors checkpoint via
 * src/io's writer, which packs the codes. Every other parameter is written
 * dense in the model's dtype. Node: the folder appears only once complete.
 */
import type { Model, SaveContext } from '../core/model.js';
import type { Parameter } from '../core/model.js';
import { writeOutputFolder } from '../io/node/index.js';
import { writeCompressedCheckpoint, type QuantizedLayer, type WrittenCheckpoint } from '../io/compressed/writer.js';
import type { TensorEntry } from '../io/safetensors/writer.js';
import { f32ArrayToBf16, f32ArrayToF16 } from '../io/numeric/float.js';
import { QuantizationModifier, QUANTIZED_PARAMETERS } from '../modifiers/quantization/base.js';

/** Options of {@link saveQuantizedModel}. */
export interface SaveQuantizedOptions {
  /** Replace an existing non-empty folder. */
  overwrite?: boolean;
}

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

/**
 * Writes `model` to `outputDir` as a compressed-tensors checkpoint: the
 * layers quantized by the QuantizationModifier(s) of `context.recipe`
 * compressed, everything else dense, config.json with `quantization_config`,
 * recipe.yaml. Tensors are read from the GPU one at a time as the writer
 * reaches them.
 */
export async function saveQuantizedModel(model: Model, outputDir: string, context: SaveContext, options: SaveQuantizedOptions = {}): Promise<WrittenCheckpoint> {
  if (!model.config) throw new Error(`cannot save ${model.architecture}: the model has no config.json to write`);
  const config = model.config;
  const mods = context.recipe.modifiers.filter((m): m is QuantizationModifier => m instanceof QuantizationModifier);
  const layers: QuantizedLayer[] = [];
  const groups: Record<string, Record<string, unknown>> = {};
  const ignore = new Set<string>();
  const quantized = new Set<string>();
  mods.forEach((mod, k) => {
    const prefix = mods.length > 1 ? `m${k}_` : '';
    for (const [name, g] of Object.entries(mod.configGroupsJson())) groups[prefix + name] = g;
    for (const i of mod.kernelQuantization.ignore) ignore.add(i);
    for (const r of mod.quantizedModules) {
      const m = r.module;
      const param = (n: string): Parameter => {
        const p = m.getParameter(n);
        if (!p) throw new Error(`${m.name}: parameter ${n} is missing; was the module quantized?`);
        return p;
      };
      quantized.add(m.name);
      const int = r.scheme.weights!.type === 'int';
      layers.push({
        module: m.name,
        group: prefix + r.group,
        shape: r.shape,
        weight: async () => {
          const b = await readParam(param('weight_codes'));
          return int ? new Int8Array(b.buffer, b.byteOffset, b.length) : b;
        },
        weightScale: async () => {
          const b = await readParam(param('weight_scale'));
          return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
        },
        weightZeroPoint: m.getParameter('weight_zero_point')
          ? async () => {
              const b = await readParam(param('weight_zero_point'));
              return Int8Array.from(new Int32Array(b.buffer, b.byteOffset, b.byteLength / 4));
            }
          : undefined,
        weightGlobalScale: m.getParameter('weight_global_scale')
          ? async () => {
              const b = await readParam(param('weight_global_scale'));
              return new Float32Array(b.buffer, b.byteOffset, 1);
            }
          : undefined,
      });
    }
  });
  const dtype = dtypeOf(config);
  const dense: TensorEntry[] = [];
  for (const [name, p] of model.root.namedParameters()) {
    const dot = name.lastIndexOf('.');
    const module = name.slice(0, dot);
    const local = name.slice(dot + 1);
    if (quantized.has(module) && (local === 'weight' || (QUANTIZED_PARAMETERS as readonly string[]).includes(local))) continue;
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
  return writeOutputFolder(outputDir, { overwrite: options.overwrite }, (out) =>
    writeCompressedCheckpoint(out, {
      config,
      quantization: layers.length ? { config_groups: groups as never, ignore: [...ignore] } : null,
      layers,
      dense,
      recipe: context.recipeYaml,
    }),
  );
}
