import { describe, it, expect } from 'vitest';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { useHardware, inErrorScope } from '../helpers/gpu.js';
import { openModelDir, openNodeFolder } from '../../src/io/node/index.js';
import { MemoryFolder } from '../../src/io/folder.js';
import { openModelFolder } from '../../src/io/model/folder.js';
import { writeCompressedCheckpoint, denseEntries, type QuantizedLayer } from '../../src/io/compressed/writer.js';
import { openCausalLM, type ExecutionCaveat } from '../../src/models/load.js';
import { parseLlamaConfig } from '../../src/models/llama/config.js';
import { llamaWeightSpecs } from '../../src/models/llama/weights.js';
import { LlamaReference } from '../../src/models/reference/llama.js';
import { relMaxError } from './helpers.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const modelDir = path.resolve(repoRoot, '..', 'shared', 'models', 'stories260K');
const present = existsSync(path.join(modelDir, 'model.safetensors'));
if (!present) console.warn(`skipping compressed-checkpoint execution test: ${modelDir} not found (../shared is absent)`);

const hardware = useHardware();

/** Channel-wise symmetric int8: scale = absmax/127 per output row, q = round-half-even(w / scale). */
function quantizeRows(w: Float32Array, rows: number, cols: number): { q: Int8Array; scale: Float32Array } {
  const q = new Int8Array(rows * cols);
  const scale = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let amax = 0;
    for (let c = 0; c < cols; c++) amax = Math.max(amax, Math.abs(w[r * cols + c]));
    scale[r] = Math.fround(amax / 127) || 1;
    for (let c = 0; c < cols; c++) {
      const x = w[r * cols + c] / scale[r];
      const f = Math.floor(x);
      const v = x - f === 0.5 ? (f % 2 === 0 ? f : f + 1) : Math.round(x);
      q[r * cols + c] = Math.max(-128, Math.min(127, v));
    }
  }
  return { q, scale };
}

describe.skipIf(!present)('compressed-tensors checkpoint execution', () => {
  it('runs a W8A16 (int8 channel) stories260K: logits match the reference on the dequantized weights', async () => {
    const hw = await hardware();
    const src = await openModelDir(modelDir);
    const config = parseLlamaConfig(src.config.raw);
    const dense = new Map<string, Float32Array>();
    for (const s of llamaWeightSpecs(config)) dense.set(s.name, await src.weights.readF32(s.name));
    const layers: QuantizedLayer[] = [];
    const dequantized = new Map(dense);
    for (const s of llamaWeightSpecs(config)) {
      if (s.kind !== 'linear' || !s.name.startsWith('model.layers.')) continue;
      const [o, i] = s.shape;
      const { q, scale } = quantizeRows(dense.get(s.name)!, o, i);
      layers.push({ module: s.name.replace(/\.weight$/, ''), group: 'group_0', shape: [o, i], weight: q, weightScale: scale });
      dequantized.set(s.name, Float32Array.from(q, (v, k) => Math.fround(v * scale[Math.floor(k / i)])));
    }
    const out = new MemoryFolder('w8a16');
    await writeCompressedCheckpoint(out, {
      config: src.config.raw,
      quantization: { config_groups: { group_0: { targets: ['Linear'], weights: { num_bits: 8, type: 'int', symmetric: true, strategy: 'channel' } } } },
      layers,
      dense: denseEntries(src.weights, new Set(layers.map((l) => `${l.module}.weight`))),
      carryFrom: await openNodeFolder(modelDir),
    });
    await src.close();
    expect([...out.files.keys()]).toContain('model.safetensors');

    const ids = Int32Array.from([1, 403, 407, 261, 378, 11, 300, 290, 45, 61, 400, 33]);
    const want = new LlamaReference(config, (n) => dequantized.get(n)!).logits(ids);
    await inErrorScope(hw, async () => {
      const caveats: ExecutionCaveat[] = [];
      const model = await openCausalLM(hw, await openModelFolder(out), caveats);
      expect(caveats).toEqual([]);
      const shape = { batch: 1, seqLen: ids.length };
      let h = await model.embed(ids, shape);
      for (let i = 0; i < model.numLayers; i++) h = await model.layerForward(i, h, shape);
      const got = await (await model.logits(h)).readF32();
      expect(relMaxError(got, want)).toBeLessThan(1e-4);
      // And it is a different model from the dense one.
      const denseLogits = new LlamaReference(config, (n) => dense.get(n)!).logits(ids);
      expect(relMaxError(got, denseLogits)).toBeGreaterThan(1e-4);
      await model.dispose?.();
    });
  });
});
