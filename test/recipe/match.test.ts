/** Target matching with compressed-tensors' rules over the module tree. */
import { describe, expect, it } from 'vitest';
import { Module } from '../../src/core/model.js';
import { isMatch, lowestCommonAncestorName, matchModulesSet, matchName, matchNamedModules, matchTargets, targetProblem } from '../../src/recipe/match.js';
import { compilePythonRegex, pythonReMatch } from '../../src/recipe/pyRegex.js';
import { fakeLlama } from '../core/fakeModel.js';

const model = fakeLlama({ layers: 2 });
const names = (targets: string[], ignore: string[] = []) => matchNamedModules(model.root, targets, ignore).map((m) => m.name);

describe('matchNamedModules', () => {
  it('class names match anywhere in the class chain', () => {
    const linears = names(['Linear']);
    expect(linears).toHaveLength(2 * 7 + 1);
    expect(linears[0]).toBe('model.layers.0.self_attn.q_proj');
    expect(linears.at(-1)).toBe('lm_head');
    expect(names(['LlamaDecoderLayer'])).toEqual(['model.layers.0', 'model.layers.1']);
    expect(names(['LlamaPreTrainedModel'])).toEqual(['']);
  });

  it('exact names, and ignore', () => {
    expect(names(['model.layers.1.mlp.down_proj', 'lm_head'])).toEqual(['model.layers.1.mlp.down_proj', 'lm_head']);
    expect(names(['Linear'], ['lm_head', 're:.*mlp.*'])).toEqual(
      ['0', '1'].flatMap((l) => ['q_proj', 'k_proj', 'v_proj', 'o_proj'].map((p) => `model.layers.${l}.self_attn.${p}`)),
    );
  });

  it('re: patterns are anchored at the start only, like re.match', () => {
    expect(names(['re:self_attn'])).toEqual([]);
    expect(names(['re:.*self_attn.q_proj'])).toEqual(['model.layers.0.self_attn.q_proj', 'model.layers.1.self_attn.q_proj']);
    // Not anchored at the end: the layer and everything under it.
    expect(names(['re:model.layers.0'])).toHaveLength(1 + 1 + 4 + 1 + 3 + 2);
    expect(names(['re:.*model.layers.0$'])).toEqual(['model.layers.0']);
    expect(names(['re:.*self_attn\\.(k|q|o|v)_proj$'])).toHaveLength(8);
  });

  it('reports targets that matched nothing', () => {
    const missed: string[] = [];
    matchNamedModules(model.root, ['Linear', 'Conv2d', 're:.*experts.*'], [], { onUnmatched: (t) => missed.push(t) });
    expect(missed).toEqual(['Conv2d', 're:.*experts.*']);
  });
});

describe('single-module rules', () => {
  const q = model.root.getModule('model.layers.0.self_attn.q_proj')!;
  it('isMatch and matchTargets order (exact, regex, class)', () => {
    expect(isMatch(q, 'Linear')).toBe(true);
    expect(isMatch(q, ['Linear'], ['re:.*q_proj'])).toBe(false);
    expect(matchTargets(q, ['Linear', 're:.*q_proj', 'model.layers.0.self_attn.q_proj', 'Embedding'])).toEqual([
      'model.layers.0.self_attn.q_proj',
      're:.*q_proj',
      'Linear',
    ]);
  });

  it("vLLM's LinearBase answers to Linear", () => {
    const root = new Module(['Model']);
    const qkv = root.addModule('qkv_proj', ['QKVParallelLinear', 'LinearBase']);
    expect(isMatch(qkv, 'Linear')).toBe(true);
  });

  it('matchName without a class', () => {
    expect(matchName('lm_head', 'lm_head')).toBe(true);
    expect(matchName('lm_head', 'Linear')).toBe(false);
    expect(matchName('model.norm', 're:.*norm$')).toBe(true);
  });

  it('names bad targets', () => {
    expect(targetProblem('Linear')).toBeUndefined();
    expect(targetProblem('re:[')).toMatch(/^invalid regular expression "re:\[": /);
    expect(targetProblem('')).toBe('empty target');
  });
});

describe('Python regex syntax', () => {
  it('named groups, \\A/\\Z, leading inline flags, ] as first class member', () => {
    expect(pythonReMatch('(?P<p>ab)(?P=p)', 'ababx')).toBe(true);
    expect(pythonReMatch('\\Amodel\\Z', 'model')).toBe(true);
    expect(pythonReMatch('\\Amodel\\Z', 'models')).toBe(false);
    expect(pythonReMatch('(?i)MODEL', 'model.layers')).toBe(true);
    expect(pythonReMatch('[]a]+$', ']a]')).toBe(true);
    expect(pythonReMatch('x', 'yx')).toBe(false);
    expect(() => compilePythonRegex('(?x)a b')).toThrow('inline flag (?x) is not supported');
  });
});

describe('matchModulesSet', () => {
  it('groups a norm with the projections it feeds, per layer', () => {
    const sets = [...matchModulesSet(model.root, ['re:.*input_layernorm$', 're:.*q_proj$', 're:.*k_proj$', 're:.*v_proj$'])];
    expect(sets.map((s) => s.map((ms) => ms.map((m) => m.name)))).toEqual(
      [0, 1].map((l) => [
        [`model.layers.${l}.input_layernorm`],
        [`model.layers.${l}.self_attn.q_proj`],
        [`model.layers.${l}.self_attn.k_proj`],
        [`model.layers.${l}.self_attn.v_proj`],
      ]),
    );
  });

  it('errors on an incomplete last set and on a module matching two targets', () => {
    expect(() => [...matchModulesSet(model.root, ['re:.*input_layernorm$', 're:.*layers.0.self_attn.q_proj$'])]).toThrow('Found a final incomplete set');
    expect(() => [...matchModulesSet(model.root, ['re:.*q_proj$', 'Linear'])]).toThrow('was matched with multiple targets');
  });

  it('lowest common ancestor names', () => {
    expect(lowestCommonAncestorName(['abc.a', 'abc.b'])).toBe('abc');
    expect(lowestCommonAncestorName(['abc', 'ab'])).toBe('');
    expect(lowestCommonAncestorName(['ab', 'ab.a', undefined])).toBe('ab');
  });
});
