/** Preset schemes, QuantizationArgs rules, and what the quantization fields resolve to. */
import { describe, expect, it } from 'vitest';
import { State } from '../../src/core/state.js';
import { quantizationArgs } from '../../src/modifiers/quantization/args.js';
import { PRESET_NAMES, PRESET_SCHEMES, presetNameToScheme } from '../../src/modifiers/quantization/presets.js';
import { QuantizationModifier } from '../../src/modifiers/quantization/base.js';
import { GPTQModifier } from '../../src/modifiers/gptq/base.js';
import { SparseGPTModifier } from '../../src/modifiers/pruning/sparsegpt.js';
import { WandaPruningModifier } from '../../src/modifiers/pruning/wanda.js';
import { MagnitudePruningModifier } from '../../src/modifiers/pruning/magnitude.js';
import { ConstantPruningModifier } from '../../src/modifiers/pruning/constant.js';
import { AWQModifier } from '../../src/modifiers/awq/base.js';
import { SmoothQuantModifier } from '../../src/modifiers/smoothquant/base.js';
import { inferPipeline } from '../../src/pipelines/registry.js';

type Args = Record<string, unknown>;
const int = (numBits: number, strategy: string, extra: Args = {}): Args => ({ numBits, type: 'int', symmetric: true, strategy, dynamic: false, ...extra });
const flt = (numBits: number, strategy: string, extra: Args = {}): Args => ({ numBits, type: 'float', symmetric: true, strategy, dynamic: false, ...extra });

/** Reference §2 table. */
const TABLE: Record<string, { w?: Args; a?: Args }> = {
  UNQUANTIZED: {},
  W4A16: { w: int(4, 'group', { groupSize: 128, observer: 'memoryless_minmax' }) },
  W4A16_ASYM: { w: int(4, 'group', { groupSize: 128, symmetric: false }) },
  W8A16: { w: int(8, 'group', { groupSize: 128 }) },
  W8A8: { w: int(8, 'channel'), a: int(8, 'token', { dynamic: true, observer: null }) },
  INT8: { w: int(8, 'channel'), a: int(8, 'token', { dynamic: true }) },
  W4AFP8: { w: int(4, 'group', { groupSize: 128 }), a: flt(8, 'token', { dynamic: true }) },
  FP8: { w: flt(8, 'tensor'), a: flt(8, 'tensor', { observer: 'static_minmax' }) },
  FP8_DYNAMIC: { w: flt(8, 'channel'), a: flt(8, 'token', { dynamic: true }) },
  FP8_BLOCK: { w: flt(8, 'block', { blockStructure: [128, 128] }), a: flt(8, 'group', { groupSize: 128, dynamic: true }) },
  NVFP4A16: { w: flt(4, 'tensor_group', { groupSize: 16, scaleDtype: 'float8_e4m3fn', zpDtype: 'float8_e4m3fn' }) },
  NVFP4: {
    w: flt(4, 'tensor_group', { groupSize: 16, scaleDtype: 'float8_e4m3fn' }),
    a: flt(4, 'tensor_group', { groupSize: 16, dynamic: 'local', observer: 'static_minmax', scaleDtype: 'float8_e4m3fn' }),
  },
  MXFP4A16: { w: flt(4, 'group', { groupSize: 32, scaleDtype: 'uint8', zpDtype: 'uint8' }) },
  MXFP4: { w: flt(4, 'group', { groupSize: 32, scaleDtype: 'uint8' }), a: flt(4, 'group', { groupSize: 32, dynamic: true, scaleDtype: 'uint8' }) },
  MXFP8A16: { w: flt(8, 'group', { groupSize: 32, scaleDtype: 'uint8' }) },
  MXFP8: { w: flt(8, 'group', { groupSize: 32, scaleDtype: 'uint8' }), a: flt(8, 'group', { groupSize: 32, dynamic: true }) },
};
for (const n of [2, 3, 4, 5, 6, 7]) TABLE[`W${n}A16`] ??= { w: int(n, 'group', { groupSize: 128 }) };
for (const n of [2, 3, 4]) TABLE[`W${n}A4`] = { w: int(n, 'group', { groupSize: 128 }), a: int(4, 'token', { dynamic: true }) };
for (const n of [2, 3, 4, 5, 6, 7]) TABLE[`W${n}A8`] = { w: int(n, 'group', { groupSize: 128 }), a: int(8, 'token', { dynamic: true }) };

describe('preset schemes (compressed-tensors PRESET_SCHEMES)', () => {
  it('has exactly the presets of the reference', () => {
    expect([...PRESET_NAMES].sort()).toEqual(Object.keys(TABLE).sort());
    expect(PRESET_NAMES).toHaveLength(30);
  });
  for (const [name, want] of Object.entries(TABLE)) {
    it(name, () => {
      const p = PRESET_SCHEMES[name];
      if (want.w) expect(p.weights).toMatchObject(want.w);
      else expect(p.weights).toBeUndefined();
      if (want.a) expect(p.inputActivations).toMatchObject(want.a);
      else expect(p.inputActivations).toBeUndefined();
    });
  }
  it('names are case-insensitive and schemes are fresh copies', () => {
    const a = presetNameToScheme('w4a16', ['Linear']);
    a.weights!.numBits = 3;
    expect(presetNameToScheme('W4A16', ['Linear']).weights!.numBits).toBe(4);
  });
});

describe('QuantizationArgs rules', () => {
  it('infers strategy from group_size, observer and zp dtype from the rest', () => {
    expect(quantizationArgs({})).toMatchObject({ strategy: 'tensor', observer: 'memoryless_minmax', zpDtype: 'int8' });
    expect(quantizationArgs({ groupSize: 64 })).toMatchObject({ strategy: 'group' });
    expect(quantizationArgs({ groupSize: -1 })).toMatchObject({ strategy: 'channel' });
    expect(quantizationArgs({ numBits: 16 })).toMatchObject({ zpDtype: 'int16' });
    expect(quantizationArgs({ numBits: 4, type: 'float', groupSize: 16, strategy: 'tensor_group', dynamic: 'local' })).toMatchObject({ observer: 'minmax', zpDtype: 'float8_e4m3fn' });
    expect(quantizationArgs({ blockStructure: '64x32' as never, strategy: 'block' }).blockStructure).toEqual([64, 32]);
    expect(quantizationArgs({ scaleDtype: 'torch.float8_e4m3fn' }).scaleDtype).toBe('float8_e4m3fn');
  });

  it('actorder: true is group, false is none; group needs a group strategy', () => {
    expect(quantizationArgs({ groupSize: 128, actorder: true as never }).actorder).toBe('group');
    expect(quantizationArgs({ actorder: false as never }).actorder).toBeNull();
    expect(() => quantizationArgs({ actorder: 'group' })).toThrow('Must use group or tensor_group quantization strategy in order to apply group activation ordering');
  });

  it('dynamic=true drops the observer (with a warning)', () => {
    const warnings: string[] = [];
    expect(quantizationArgs({ strategy: 'token', dynamic: true, observer: 'minmax' }, 'a', warnings).observer).toBeNull();
    expect(warnings).toEqual(['a: No observer is used for dynamic quant., setting to None']);
  });

  it('rejects the combinations compressed-tensors rejects', () => {
    expect(() => quantizationArgs({ groupSize: -2 })).toThrow("Invalid group size -2. Use group_size > 0 for strategy='group' and group_size = -1 for 'channel'");
    expect(() => quantizationArgs({ strategy: 'channel', groupSize: 128 })).toThrow("group_size requires strategy to be set to 'group'");
    expect(() => quantizationArgs({ strategy: 'block' })).toThrow('Block strategy requires block structure');
    expect(() => quantizationArgs({ blockStructure: [128, 128] })).toThrow('Block structure requires block strategy');
    expect(() => quantizationArgs({ strategy: 'tensor', dynamic: 'local' })).toThrow('local is only supported for strategy tensor_group');
    expect(() => quantizationArgs({ blockStructure: [0, 4] as never, strategy: 'block' })).toThrow("Invalid block_structure '[0,4]'. Must be a list of positive ints [rows, cols].");
    expect(() => quantizationArgs({ scaleDtype: 'float9' })).toThrow('No such torch dtype `torch.float9`');
    expect(() => quantizationArgs({ observer: 'maxmin' })).toThrow('unknown observer "maxmin"');
  });
});

describe('QuantizationMixin resolution', () => {
  it('scheme string + targets, scheme map, observer overrides', () => {
    const one = new QuantizationModifier({ scheme: 'W4A16', targets: 're:.*mlp.*', ignore: ['lm_head'] });
    expect(one.targets).toEqual(['re:.*mlp.*']);
    const g = one.resolvedConfig;
    expect(Object.keys(g.configGroups)).toEqual(['group_0']);
    expect(g.configGroups.group_0.targets).toEqual(['re:.*mlp.*']);
    expect(g.ignore).toEqual(['lm_head']);

    const two = new QuantizationModifier({ scheme: { W8A8: ['re:.*attn.*'], W4A16: 're:.*mlp.*' } });
    const c = two.resolvedConfig.configGroups;
    expect([c.group_0.targets, c.group_0.weights!.numBits, c.group_1.targets, c.group_1.weights!.numBits]).toEqual([['re:.*attn.*'], 8, ['re:.*mlp.*'], 4]);

    const obs = new QuantizationModifier({ scheme: 'W8A8', observer: { weights: 'MSE', input: 'minmax' } });
    const o = obs.resolvedConfig.configGroups.group_0;
    expect([o.weights!.observer, o.inputActivations!.observer]).toEqual(['mse', null]);
    expect(obs.warnings.some((w) => w.includes('No observer is used for dynamic quant.'))).toBe(true);
  });

  it('no quantization fields: default group, has_config false, and initialize says what is missing', async () => {
    const m = new QuantizationModifier();
    expect(m.hasConfig()).toBe(false);
    expect(m.resolvedConfig.configGroups).toEqual({
      group_0: { targets: ['Linear'], weights: null, inputActivations: null, outputActivations: null, format: null },
    });
    await expect(m.initialize(new State())).rejects.toThrow('QuantizationModifier: QuantizationModifier requires that quantization fields be specified');
  });

  it('GPTQ actorder: absent → static for schemes without one; explicit value must agree; group falls back on non-group strategies', () => {
    const dflt = new GPTQModifier({ scheme: 'W4A16' });
    expect(dflt.actorder).toBeUndefined();
    expect(dflt.resolvedConfig.configGroups.group_0.weights!.actorder).toBe('static');
    const keep = new GPTQModifier({ configGroups: { g: { targets: ['Linear'], weights: { numBits: 4, groupSize: 128, actorder: 'weight' } } } });
    expect(keep.resolvedConfig.configGroups.g.weights!.actorder).toBe('weight');
    const alias = new GPTQModifier({ actorder: 'static', configGroups: { g: { targets: ['Linear'], weights: { numBits: 4, groupSize: 128, actorder: 'weight' } } } });
    expect(alias.resolvedConfig.configGroups.g.weights!.actorder).toBe('static');
    const fallback = new GPTQModifier({ actorder: 'group', scheme: 'W8A8' });
    expect(fallback.resolvedConfig.configGroups.group_0.weights!.actorder).toBeNull();
    expect(fallback.warnings.some((w) => w.includes('falling back to actorder=None'))).toBe(true);
  });
});

describe('calibration data and pipeline inference (llm-compressor pipelines/test_registry)', () => {
  const q = (o: ConstructorParameters<typeof QuantizationModifier>[0]) => new QuantizationModifier(o);
  it.each([
    ['W4A16', false],
    ['W8A8', false],
    ['FP8_DYNAMIC', false],
    ['FP8_BLOCK', false],
    ['NVFP4A16', false],
    ['MXFP4', false],
    ['FP8', true],
    ['NVFP4', true],
  ])('QuantizationModifier(scheme=%s) needs data: %s', (scheme, needs) => {
    expect(q({ scheme }).requiresCalibrationData).toBe(needs);
    expect(inferPipeline([q({ scheme })])).toBe(needs ? 'sequential' : 'datafree');
  });

  it('KV cache, static outputs and the imatrix observer need data', () => {
    expect(q({ scheme: 'W4A16', kvCacheScheme: { numBits: 8, type: 'float' } }).requiresCalibrationData).toBe(true);
    expect(q({ scheme: 'W4A16', weightObserver: 'imatrix_mse' }).requiresCalibrationData).toBe(true);
    expect(q({ configGroups: { g: { targets: ['Linear'], outputActivations: { numBits: 8 } } } }).requiresCalibrationData).toBe(true);
  });

  it('class flags of the other modifiers', () => {
    expect(new GPTQModifier({ scheme: 'W4A16' }).requiresCalibrationData).toBe(true);
    expect(new AWQModifier().requiresCalibrationData).toBe(true);
    expect(new SmoothQuantModifier().requiresCalibrationData).toBe(true);
    expect(new SparseGPTModifier({ sparsity: 0.5 }).requiresCalibrationData).toBe(true);
    expect(new WandaPruningModifier({ sparsity: 0.5 }).requiresCalibrationData).toBe(true);
    expect(new MagnitudePruningModifier({ targets: 'Linear', initSparsity: 0.1, finalSparsity: 0.5 }).requiresCalibrationData).toBe(false);
    expect(new ConstantPruningModifier({ targets: ['re:.*weight'] }).requiresCalibrationData).toBe(false);
    expect(inferPipeline([q({ scheme: 'W4A16' }), new SparseGPTModifier({ sparsity: 0.5 })])).toBe('sequential');
  });
});

describe('defaults match llm-compressor', () => {
  it('per modifier', () => {
    const g = new GPTQModifier();
    expect([g.blockSize, g.dampeningFrac, g.actorder, g.offloadHessians, g.targets, g.ignore, g.scheme, g.configGroups, g.kvCacheScheme, g.bypassDivisibilityChecks]).toEqual([
      128, 0.01, undefined, false, ['Linear'], [], null, null, null, false,
    ]);
    expect([g.index, g.group, g.start, g.end, g.update]).toEqual([null, null, null, null, null]);
    const a = new AWQModifier();
    expect([a.mappings, a.offloadDevice, a.duoScaling, a.nGrid]).toEqual([null, undefined, true, 20]);
    const s = new SmoothQuantModifier();
    expect([s.smoothingStrength, s.mappings, s.ignore, s.numCalibrationSteps, s.calibrationFunction, s.algorithm]).toEqual([0.5, null, null, null, null, 'smoothquant']);
    const sp = new SparseGPTModifier({ sparsity: 0.5 });
    expect([sp.sparsityProfile, sp.maskStructure, sp.owlM, sp.owlLmbda, sp.sequentialUpdate, sp.targets, sp.ignore, sp.blockSize, sp.dampeningFrac, sp.preserveSparsityMask, sp.offloadHessians]).toEqual([
      null, '0:0', null, null, false, ['Linear'], [], 128, 0.01, false, false,
    ]);
    const mg = new MagnitudePruningModifier({ targets: 'Linear', initSparsity: 0.1, finalSparsity: 0.5 });
    expect([mg.updateScheduler, mg.schedulerArgs, mg.maskStructure, mg.leaveEnabled, mg.applyGlobally]).toEqual(['cubic', {}, 'unstructured', false, false]);
  });

  it('deprecated switches behave as in llm-compressor', () => {
    const sp = new SparseGPTModifier({ sparsity: 0.5, sequentialUpdate: false });
    expect(sp.sequentialUpdate).toBe(true);
    expect(sp.warnings[0]).toContain('`sequential_update=False` is no longer supported');
    const mg = new MagnitudePruningModifier({ targets: 'Linear', initSparsity: 0, finalSparsity: 0.5, leaveEnabled: true });
    expect(mg.leaveEnabled).toBe(false);
    expect(() => new SparseGPTModifier({ sparsity: 0.5, sparsityProfile: 'owl' })).toThrow('Must provide all of `profile="owl"`, `owl_m` and `owl_lmbda` or none');
    expect(() => new MagnitudePruningModifier({ targets: 'Linear', initSparsity: 0, finalSparsity: 0.5, updateScheduler: 'cosine' })).toThrow('Unknown scheduler type: cosine');
  });
});
