/**
 * A small Llama-shaped module tree for core tests: the Hugging Face names and
 * class chains a real LlamaForCausalLM has, with optional GPU weights.
 */
import { Module, Parameter, type Model, type SaveContext } from '../../src/core/model.js';
import type { Hardware } from '../../src/gpu/hardware.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { randn } from '../helpers/random.js';

export interface FakeLlamaOptions {
  layers?: number;
  hidden?: number;
  intermediate?: number;
  vocab?: number;
  /** Give every Linear and Embedding a lazily loaded f32 weight on this GPU. */
  hardware?: Hardware;
  seed?: number;
  save?: (outputDir: string, context: SaveContext) => Promise<void>;
}

/** Counts of lazy loads per parameter name, to check streaming behaviour. */
export interface FakeLlama extends Model {
  readonly loads: Map<string, number>;
}

export function fakeLlama(options: FakeLlamaOptions = {}): FakeLlama {
  const { layers = 2, hidden = 8, intermediate = 16, vocab = 32, hardware, seed = 1 } = options;
  const loads = new Map<string, number>();
  let s = seed;
  const weight = (m: Module, rows: number, cols: number) => {
    if (!hardware) return;
    const name = `${m.name}.weight`;
    const data = randn(rows * cols, s++);
    m.setParameter(
      'weight',
      Parameter.lazy({
        shape: [rows, cols],
        dtype: 'f32',
        load: async () => {
          loads.set(name, (loads.get(name) ?? 0) + 1);
          return Tensor.fromData(hardware, data, [rows, cols], 'f32');
        },
      }),
    );
  };
  const linear = (parent: Module, name: string, out: number, inp: number) => weight(parent.addModule(name, ['Linear', 'Module']), out, inp);
  const root = new Module(['LlamaForCausalLM', 'LlamaPreTrainedModel', 'Module']);
  const model = root.addModule('model', ['LlamaModel', 'Module']);
  weight(model.addModule('embed_tokens', ['Embedding', 'Module']), vocab, hidden);
  const list = model.addModule('layers', ['ModuleList', 'Module']);
  for (let i = 0; i < layers; i++) {
    const layer = list.addModule(String(i), ['LlamaDecoderLayer', 'Module']);
    const attn = layer.addModule('self_attn', ['LlamaAttention', 'Module']);
    for (const p of ['q_proj', 'k_proj', 'v_proj', 'o_proj']) linear(attn, p, hidden, hidden);
    const mlp = layer.addModule('mlp', ['LlamaMLP', 'Module']);
    linear(mlp, 'gate_proj', intermediate, hidden);
    linear(mlp, 'up_proj', intermediate, hidden);
    linear(mlp, 'down_proj', hidden, intermediate);
    layer.addModule('input_layernorm', ['LlamaRMSNorm', 'Module']);
    layer.addModule('post_attention_layernorm', ['LlamaRMSNorm', 'Module']);
  }
  model.addModule('norm', ['LlamaRMSNorm', 'Module']);
  linear(root, 'lm_head', vocab, hidden);
  return {
    architecture: 'LlamaForCausalLM',
    root,
    defaultSequentialTargets: ['LlamaDecoderLayer'],
    loads,
    save: options.save,
    dispose() {
      for (const [, p] of root.namedParameters()) p.dispose();
    },
  };
}
