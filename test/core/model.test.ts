/** The module tree, parameters (resident and lazy) and forward hooks. */
import { describe, expect, it } from 'vitest';
import { Module, Parameter, type HookCall } from '../../src/core/model.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { inErrorScope, useHardware } from '../helpers/gpu.js';
import { freshSeed, randn } from '../helpers/random.js';
import { fakeLlama } from './fakeModel.js';

const hardware = useHardware();

describe('module tree', () => {
  it('Hugging Face names, pre-order traversal, lookup', () => {
    const m = fakeLlama({ layers: 2 });
    const names = [...m.root.modules()].map((x) => x.name);
    expect(names.slice(0, 6)).toEqual(['', 'model', 'model.embed_tokens', 'model.layers', 'model.layers.0', 'model.layers.0.self_attn']);
    expect(names.at(-1)).toBe('lm_head');
    const q = m.root.getModule('model.layers.1.self_attn.q_proj')!;
    expect([q.name, q.localName, q.classNames, q.parent!.name]).toEqual(['model.layers.1.self_attn.q_proj', 'q_proj', ['Linear', 'Module'], 'model.layers.1.self_attn']);
    expect(m.root.getModule('model.layers.9')).toBeUndefined();
    expect(m.root.getModule('')).toBe(m.root);
    expect(q.isA('Linear')).toBe(true);
    expect(() => m.root.addModule('model', ['X'])).toThrow('module model already exists');
    expect(() => m.root.addModule('a.b', ['X'])).toThrow('invalid module name');
    expect(() => new Module([])).toThrow('at least one class name');
  });

  it('hooks: registration order, removal, global disable with keep, nesting', async () => {
    const m = fakeLlama({ layers: 1 });
    const q = m.root.getModule('model.layers.0.self_attn.q_proj')!;
    const log: string[] = [];
    const rec = (tag: string) => (c: HookCall) => void log.push(`${tag}:${c.kind}:${c.module.localName}:${c.inputs.length}${c.output ? '+out' : ''}`);
    const h1 = q.registerHook('forward', rec('a'));
    const h2 = q.registerHook('forward', async (c) => {
      await Promise.resolve();
      rec('b')(c);
    });
    q.registerHook('forward_pre', rec('p'));
    expect(q.hasHooks('forward')).toBe(true);
    expect(q.hasHooks('key')).toBe(false);
    await q.callHooks('forward_pre', []);
    await q.callHooks('forward', [], undefined);
    expect(log.splice(0)).toEqual(['p:forward_pre:q_proj:0', 'a:forward:q_proj:0', 'b:forward:q_proj:0']);

    await m.root.hooks.withHooksDisabled(async () => {
      await q.callHooks('forward', []);
      expect(q.hasHooks('forward_pre')).toBe(false);
      await m.root.hooks.withHooksDisabled(() => q.callHooks('forward', []), [h1, h2]); // nested: keep cannot re-enable h1
    }, [h2]);
    expect(log.splice(0)).toEqual(['b:forward:q_proj:0', 'b:forward:q_proj:0']);

    h1.remove();
    h1.remove();
    expect(h1.removed).toBe(true);
    await q.callHooks('forward', []);
    expect(log).toEqual(['b:forward:q_proj:0']);
  });
});

describe('parameters on the GPU', () => {
  it('lazy parameters load on first use, release and reload; set() replaces and pins', async () => {
    const hw = await hardware();
    await inErrorScope(hw, async () => {
      const m = fakeLlama({ layers: 1, hardware: hw, seed: freshSeed() });
      const q = m.root.getModule('model.layers.0.self_attn.q_proj')!;
      const w = q.getParameter('weight')!;
      expect([w.shape, w.dtype, w.resident, w.lazy]).toEqual([[8, 8], 'f32', false, true]);
      const [t1, t2] = await Promise.all([w.get(), w.get()]); // concurrent gets share one load
      expect(t1).toBe(t2);
      expect(m.loads.get('model.layers.0.self_attn.q_proj.weight')).toBe(1);
      const before = await t1.readF32();
      w.release();
      expect(w.resident).toBe(false);
      const again = await (await w.get()).readF32();
      expect(again).toEqual(before);
      expect(m.loads.get('model.layers.0.self_attn.q_proj.weight')).toBe(2);

      const doubled = Float32Array.from(before, (x) => 2 * x);
      w.set(Tensor.fromData(hw, doubled, [8, 8], 'f32'));
      expect([w.modified, w.lazy]).toEqual([true, false]);
      w.release(); // modified values cannot be reloaded: kept
      expect(await (await w.get()).readF32()).toEqual(doubled);
      expect(() => w.set(Tensor.fromData(hw, new Float32Array(4), [2, 2], 'f32'))).toThrow('cannot set a tensor of shape [2, 2] into a parameter of shape [8, 8]');

      const named = [...m.root.namedParameters()].map(([n]) => n);
      expect(named).toContain('model.embed_tokens.weight');
      expect(named).toContain('lm_head.weight');
      m.dispose!();
    });
  });

  it('resident parameters and shape checks on lazy sources', async () => {
    const hw = await hardware();
    await inErrorScope(hw, async () => {
      const data = randn(6, freshSeed());
      const root = new Module(['Net']);
      const lin = root.addModule('fc', ['Linear']);
      const p = lin.setParameter('bias', Tensor.fromData(hw, data, [6], 'f32'));
      expect([p.resident, p.lazy]).toEqual([true, false]);
      expect(await (await p.get()).readF32()).toEqual(data);
      p.release();
      expect(p.resident).toBe(true);
      lin.deleteParameter('bias');
      expect(lin.getParameter('bias')).toBeUndefined();
      await expect(p.get()).rejects.toThrow('no source to reload it from');

      const bad = Parameter.lazy({ shape: [3], dtype: 'f32', load: async () => Tensor.fromData(hw, new Float32Array(4), [4], 'f32') });
      await expect(bad.get()).rejects.toThrow('parameter source returned shape [4], expected [3]');
    });
  });

  it('a hook receives the GPU tensors of a forward', async () => {
    const hw = await hardware();
    await inErrorScope(hw, async () => {
      const root = new Module(['Net']);
      const fc = root.addModule('fc', ['Linear']);
      const x = Tensor.fromData(hw, randn(12, freshSeed()), [3, 4], 'f32');
      const y = Tensor.fromData(hw, randn(6, freshSeed()), [3, 2], 'f32');
      const seen: number[][] = [];
      fc.registerHook('forward', async (c) => {
        seen.push([...c.inputs[0].shape], [...c.output!.shape]);
        expect(await c.inputs[0].readF32()).toEqual(await x.readF32());
      });
      await fc.callHooks('forward', [x], y);
      expect(seen).toEqual([[3, 4], [3, 2]]);
      x.dispose();
      y.dispose();
    });
  });
});
