/** Bad recipes get errors that name the path (and, for text, the line and column). */
import { describe, expect, it } from 'vitest';
import { RecipeError } from '../../src/recipe/errors.js';
import { Recipe } from '../../src/recipe/recipe.js';
import { GPTQModifier } from '../../src/modifiers/gptq/base.js';
import { QuantizationModifier } from '../../src/modifiers/quantization/base.js';

interface Case {
  name: string;
  yaml: string;
  message: string;
  at?: [line: number, col: number];
}

const KNOWN = 'QuantizationModifier, GPTQModifier, AWQModifier, SmoothQuantModifier, SparseGPTModifier, WandaPruningModifier, MagnitudePruningModifier, ConstantPruningModifier';

const CASES: Case[] = [
  {
    name: 'unknown field, with a suggestion',
    yaml: 'quant_stage:\n  quant_modifiers:\n    GPTQModifier:\n      scheme: W4A16\n      blocksize: 64\n',
    message: 'quant_stage.quant_modifiers.GPTQModifier.blocksize: unknown field (did you mean block_size?)',
    at: [5, 7],
  },
  {
    name: 'unknown modifier',
    yaml: 'quant_stage:\n  quant_modifiers:\n    GPTQModifer:\n      scheme: W4A16\n',
    message: `quant_stage.quant_modifiers.GPTQModifer: No modifier of type 'GPTQModifer' found (did you mean GPTQModifier?). Known modifiers: ${KNOWN}`,
    at: [3, 5],
  },
  {
    name: 'wrong type',
    yaml: 'quant_stage:\n  quant_modifiers:\n    GPTQModifier:\n      scheme: W4A16\n      block_size: large\n',
    message: 'quant_stage.quant_modifiers.GPTQModifier.block_size: expected an integer, got string "large"',
    at: [5, 7],
  },
  {
    name: 'wrong type inside a list',
    yaml: 'SparseGPTModifier:\n  sparsity: [0.5, high]\n',
    message: 'SparseGPTModifier.sparsity[1]: expected a number, got string "high"',
    at: [2, 19],
  },
  {
    name: 'out of range',
    yaml: 'SmoothQuantModifier:\n  smoothing_strength: 1.5\n',
    message: 'SmoothQuantModifier.smoothing_strength: must be a number in [0, 1], got 1.5',
    at: [2, 3],
  },
  {
    name: 'scheme together with config_groups',
    yaml: 'quant_stage:\n  quant_modifiers:\n    QuantizationModifier:\n      scheme: W4A16\n      config_groups:\n        group_0:\n          targets: [Linear]\n          weights: {num_bits: 8}\n',
    message: 'quant_stage.quant_modifiers.QuantizationModifier: Please specify either `scheme` or `config_groups`',
    at: [3, 5],
  },
  {
    name: 'AWQModifier with no quantizing modifier after it',
    yaml: 'quant_stage:\n  quant_modifiers:\n    SmoothQuantModifier: {}\n    AWQModifier: {}\n',
    message:
      "quant_stage.quant_modifiers.AWQModifier: Recipe includes AWQModifier with no subsequent quantization modifier: ['SmoothQuantModifier', 'AWQModifier']. AWQ must be run with a subsequent quantization modifier",
    at: [4, 5],
  },
  {
    name: 'AWQModifier whose only quantizer comes before it',
    yaml: 'QuantizationModifier: {scheme: W4A16}\nAWQModifier: {}\n',
    message:
      "AWQModifier: Recipe includes AWQModifier with no subsequent quantization modifier: ['QuantizationModifier', 'AWQModifier']. AWQ must be run with a subsequent quantization modifier",
  },
  {
    name: 'invalid YAML (unclosed flow sequence)',
    yaml: 'quant_stage:\n  quant_modifiers:\n    GPTQModifier:\n      ignore: [lm_head\n      scheme: W4A16\n',
    message: 'invalid YAML at line 5, column 7: Flow sequence in block collection must be sufficiently indented and end with a ]',
    at: [5, 7],
  },
  { name: 'invalid YAML (tab indentation)', yaml: 'quant_stage:\n\tquant_modifiers: {}\n', message: 'invalid YAML at line 2, column 1: Tabs are not allowed as indentation', at: [2, 1] },
  {
    name: 'invalid YAML (duplicate modifier key)',
    yaml: 'quant_stage:\n  quant_modifiers:\n    GPTQModifier: {scheme: W4A16}\n    GPTQModifier: {scheme: W8A8}\n',
    message: 'invalid YAML at line 4, column 5: Map keys must be unique',
    at: [4, 5],
  },
  {
    name: 'unknown preset',
    yaml: 'QuantizationModifier: {scheme: W4A61}',
    message: 'QuantizationModifier.scheme: `scheme` must either be a preset scheme name or a dictionary of preset scheme names; "W4A61" is not a preset (did you mean W4A16?)',
  },
  {
    name: 'unknown strategy',
    yaml: 'QuantizationModifier:\n  config_groups:\n    g:\n      targets: [Linear]\n      weights: {num_bits: 4, strategy: chanel}\n',
    message: 'QuantizationModifier.config_groups.g.weights.strategy: expected one of tensor, channel, group, block, token, tensor_group, attn_head, got string "chanel" (did you mean channel?)',
    at: [5, 30],
  },
  {
    name: 'static token strategy',
    yaml: 'QuantizationModifier:\n  config_groups:\n    g: {targets: [Linear], weights: {strategy: token}}\n',
    message: 'QuantizationModifier.config_groups.g.weights: Cannot perform static token quantization, please use `dynamic=True`',
  },
  {
    name: 'group strategy without group_size',
    yaml: 'QuantizationModifier:\n  config_groups:\n    g: {targets: [Linear], weights: {num_bits: 4, strategy: group}}\n',
    message: 'QuantizationModifier.config_groups.g.weights: strategy group requires group_size to be set to a positive value',
  },
  {
    name: 'dynamic activations per channel',
    yaml: 'QuantizationModifier:\n  config_groups:\n    g: {targets: [Linear], input_activations: {strategy: channel, dynamic: true}}\n',
    message: 'QuantizationModifier.config_groups.g.input_activations: One of token, tensor, tensor_group, group must be used for dynamic quant.',
  },
  {
    name: 'fp6',
    yaml: 'QuantizationModifier:\n  config_groups:\n    g: {targets: [Linear], weights: {num_bits: 6, type: float}}\n',
    message: 'QuantizationModifier.config_groups.g.weights: float quantization supports num_bits 4 (fp4 E2M1) or 8 (fp8 E4M3), got 6',
  },
  {
    name: 'regex that does not compile',
    yaml: 'QuantizationModifier: {scheme: W4A16, ignore: ["re:.*(lm_head"]}',
    message: 'QuantizationModifier.ignore[0]: invalid regular expression "re:.*(lm_head": Unterminated group',
  },
  {
    name: 'missing required field',
    yaml: 'pruning_stage:\n  obcq_modifiers:\n    SparseGPTModifier: {mask_structure: "2:4"}\n',
    message: 'pruning_stage.obcq_modifiers.SparseGPTModifier.sparsity: field required',
    at: [3, 5],
  },
  {
    name: 'bad mask structure',
    yaml: 'SparseGPTModifier: {sparsity: 0.5, mask_structure: "4:2"}',
    message: 'SparseGPTModifier.mask_structure: invalid mask_structure "4:2": expected "N:M" with 0 < N < M (e.g. "2:4"), or "0:0" for unstructured',
  },
  {
    name: 'unknown top-level key',
    yaml: 'quant:\n  quant_modifiers: {}\n',
    message: "quant: unknown top-level key (expected '<name>_stage', 'args', or a modifier name such as QuantizationModifier)",
    at: [1, 1],
  },
  {
    name: 'modifier directly in a stage',
    yaml: 'quant_stage:\n  GPTQModifier: {scheme: W4A16}\n',
    message: "quant_stage.GPTQModifier: a modifier must sit inside a '<group>_modifiers' key (e.g. quant_modifiers: {GPTQModifier: ...})",
  },
  {
    name: 'old AWQ recipe that still quantizes in AWQModifier',
    yaml: 'quant_stage:\n  quant_modifiers:\n    AWQModifier: {scheme: W4A16}\n    QuantizationModifier: {scheme: W4A16}\n',
    message:
      'quant_stage.quant_modifiers.AWQModifier.scheme: unknown field (AWQModifier no longer quantizes; put scheme, config_groups, targets and ignore in a QuantizationModifier or GPTQModifier after it)',
  },
  {
    name: 'GPTQ actorder that contradicts the scheme',
    yaml: 'GPTQModifier:\n  actorder: weight\n  config_groups:\n    g: {targets: [Linear], weights: {num_bits: 4, group_size: 128, actorder: group}}\n',
    message:
      'GPTQModifier.actorder: Cannot resolve activation ordering when both `GPTQModifier.actorder` and `QuantizationScheme.actorder` are provided and differ (weight, group). Either unset `GPTQModifier.actorder` or remove `actorder` from config groups.',
  },
  {
    name: 'observer overrides given twice',
    yaml: 'QuantizationModifier: {scheme: W4A16, weight_observer: mse, observer: {weights: minmax}}',
    message:
      'QuantizationModifier: Cannot specify both individual observer parameters (weight_observer, input_observer, output_observer) and observer dict. Please use either individual parameters or the observer dict.',
  },
  {
    name: 'bad observer key',
    yaml: 'QuantizationModifier: {scheme: W4A16, observer: {weight: mse}}',
    message: "QuantizationModifier.observer.weight: Invalid observer key 'weight'. Valid keys are: weights, input, output (did you mean weights?)",
  },
  {
    name: 'SmoothQuant outside oneshot',
    yaml: 'SmoothQuantModifier: {end: 5}',
    message: 'SmoothQuantModifier.end: SmoothQuantModifier can only be applied during one-shot. Expected end to be None or -1, got 5',
  },
  { name: 'not a mapping', yaml: '- QuantizationModifier\n- GPTQModifier\n', message: 'a recipe must be a mapping of <name>_stage keys (or of modifier names), got a list' },
];

describe('bad recipes', () => {
  for (const c of CASES) {
    it(c.name, () => {
      let err: unknown;
      try {
        Recipe.fromText(c.yaml, { source: 'bad.yaml' });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(RecipeError);
      const e = err as RecipeError;
      expect(e.message).toBe(c.message);
      if (c.at) {
        expect([e.location?.line, e.location?.col]).toEqual(c.at);
        expect(e.format()).toBe(`bad.yaml:${c.at[0]}:${c.at[1]}: ${c.message}`);
      }
    });
  }

  it('the same checks apply to TypeScript options, with camelCase paths', () => {
    expect(() => new GPTQModifier({ blockSize: 0 })).toThrow('GPTQModifier.blockSize: must be an integer ≥ 1, got 0');
    expect(() => new GPTQModifier({ blocksize: 64 } as never)).toThrow('GPTQModifier.blocksize: unknown field (did you mean blockSize?)');
    expect(() => new QuantizationModifier({ scheme: 'W4A16', configGroups: { g: { targets: ['Linear'] } } })).toThrow(
      'QuantizationModifier: Please specify either `scheme` or `config_groups`',
    );
  });
});
