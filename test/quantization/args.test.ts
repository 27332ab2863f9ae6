import { describe, it, expect } from 'vitest';
import {
  makeQuantizationArgs, quantizationArgsFromJson, quantizationArgsToJson, quantizationSchemeFromJson, quantizationSchemeToJson,
  schemeNeedsCalibration, QuantizationConfigError,
} from '../../src/quantization/args.js';
import { PRESET_NAMES, isPresetScheme, presetScheme } from '../../src/quantization/presets.js';
import { inferWeightFormat } from '../../src/quantization/format.js';
import { groupGeometry, mseSettings, mseShrinkFactors } from '../../src/quantization/layout.js';
import { PRESET_SCHEMES, presetNameToScheme } from '../../src/modifiers/quantization/presets.js';
import { toKernelScheme } from '../../src/modifiers/quantization/convert.js';

describe('quantization args and presets (compressed-tensors quant_args.py / quant_scheme.py)', () => {
  it('presets carry exactly compressed-tensors’ arguments', () => {
    const w = (n: string) => presetScheme(n).weights!;
    expect(w('W4A16')).toMatchObject({ numBits: 4, type: 'int', symmetric: true, strategy: 'group', groupSize: 128, dynamic: false });
    expect(w('W8A16')).toMatchObject({ numBits: 8, strategy: 'group', groupSize: 128 }); // GROUP-128 since CT PR #702
    for (const b of [2, 3, 5, 6, 7]) expect(w(`W${b}A16`)).toMatchObject({ numBits: b, strategy: 'group', groupSize: 128, symmetric: true });
    expect(w('W4A16_ASYM')).toMatchObject({ numBits: 4, symmetric: false, strategy: 'group', groupSize: 128 });
    expect(presetScheme('W8A8')).toMatchObject({
      weights: { numBits: 8, strategy: 'channel', symmetric: true, dynamic: false },
      inputActivations: { numBits: 8, type: 'int', strategy: 'token', dynamic: true, observer: null },
    });
    expect(presetScheme('INT8')).toEqual(presetScheme('W8A8'));
    expect(presetScheme('w4a8').inputActivations).toMatchObject({ numBits: 8, type: 'int', strategy: 'token', dynamic: true });
    expect(presetScheme('FP8')).toMatchObject({ weights: { type: 'float', numBits: 8, strategy: 'tensor' }, inputActivations: { strategy: 'tensor', dynamic: false, observer: 'static_minmax' } });
    expect(presetScheme('FP8_DYNAMIC')).toMatchObject({ weights: { type: 'float', strategy: 'channel' }, inputActivations: { strategy: 'token', dynamic: true } });
    expect(presetScheme('FP8_BLOCK')).toMatchObject({ weights: { strategy: 'block', blockStructure: [128, 128] }, inputActivations: { strategy: 'group', groupSize: 128, dynamic: true } });
    expect(w('NVFP4A16')).toMatchObject({ type: 'float', numBits: 4, strategy: 'tensor_group', groupSize: 16, scaleDtype: 'float8_e4m3fn' });
    expect(presetScheme('NVFP4').inputActivations).toMatchObject({ dynamic: 'local', strategy: 'tensor_group', groupSize: 16 });
    expect(w('MXFP4A16')).toMatchObject({ type: 'float', numBits: 4, strategy: 'group', groupSize: 32, scaleDtype: 'uint8' });
    expect(w('MXFP8A16')).toMatchObject({ type: 'float', numBits: 8, strategy: 'group', groupSize: 32, scaleDtype: 'uint8' });
    expect(isPresetScheme('w4a16')).toBe(true);
    expect(() => presetScheme('W4A17')).toThrow(/unknown quantization scheme "W4A17" \(presets: .*W4A16/);
  });

  it('agree with the recipe layer’s presets (src/modifiers/quantization/presets.ts) for every name', () => {
    const strip = (a: object | null) => (a ? { ...a, observer: null } : null);
    expect([...PRESET_NAMES].sort()).toEqual(Object.keys(PRESET_SCHEMES).sort());
    for (const name of PRESET_NAMES) {
      const mine = presetScheme(name);
      const theirs = toKernelScheme(presetNameToScheme(name, ['Linear']), name);
      expect(strip(theirs.weights), name).toEqual(strip(mine.weights));
      expect(strip(theirs.inputActivations), name).toEqual(strip(mine.inputActivations));
    }
  });

  it('validation follows validate_model_after', () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ strategy: 'token' }, /requires dynamic: true/],
      [{ strategy: 'group' }, /requires a positive group_size/],
      [{ groupSize: 64, strategy: 'channel' }, /positive group_size requires strategy "group"/],
      [{ strategy: 'block' }, /requires block_structure/],
      [{ blockStructure: [128, 128] }, /block_structure requires strategy "block"/],
      [{ strategy: 'channel', actorder: 'group' }, /actorder "group" requires strategy/],
      [{ strategy: 'channel', dynamic: true }, /dynamic quantization needs strategy/],
      [{ strategy: 'group', groupSize: 32, dynamic: 'local' }, /only valid with strategy "tensor_group"/],
      [{ type: 'float', numBits: 6 }, /4 \(FP4 E2M1\) or 8/],
      [{ type: 'float', symmetric: false }, /asymmetric float/],
      [{ observer: 'maxmin' }, /unknown observer/],
      [{ groupSize: -2 }, /group_size: must be null, -1/],
    ];
    for (const [input, msg] of bad) expect(() => makeQuantizationArgs(input, 'w'), JSON.stringify(input)).toThrow(msg);
    expect(makeQuantizationArgs({ groupSize: -1 }).strategy).toBe('channel');
    expect(makeQuantizationArgs({ groupSize: 64 }).strategy).toBe('group');
    expect(makeQuantizationArgs({}).strategy).toBe('tensor');
    expect(makeQuantizationArgs({ strategy: 'block', blockStructure: '64x32' }).blockStructure).toEqual([64, 32]);
    expect(makeQuantizationArgs({ strategy: 'group', groupSize: 8, actorder: true }).actorder).toBe('group');
    expect(makeQuantizationArgs({ strategy: 'group', groupSize: 8, actorder: 'static' }).actorder).toBe('weight');
    expect(makeQuantizationArgs({ strategy: 'token', dynamic: true, observer: 'minmax' }).observer).toBeNull();
  });

  it('JSON: compatible key set out (§2.7), strict keys in, scale dtypes restored from the format', () => {
    const a = presetScheme('W4A16_ASYM').weights!;
    const json = quantizationArgsToJson(a);
    expect(Object.keys(json).sort()).toEqual(['actorder', 'block_structure', 'dynamic', 'group_size', 'num_bits', 'observer', 'observer_kwargs', 'strategy', 'symmetric', 'type']);
    expect(quantizationArgsFromJson(json)).toEqual(a);
    expect(() => quantizationArgsFromJson({ ...json, bits: 4 }, 'config_groups.group_0.weights')).toThrow(QuantizationConfigError);
    expect(() => quantizationArgsFromJson({ ...json, bits: 4 }, 'config_groups.group_0.weights')).toThrow(/config_groups\.group_0\.weights\.bits: unknown QuantizationArgs key/);
    for (const name of ['MXFP4A16', 'MXFP8A16', 'NVFP4A16']) {
      const s = presetScheme(name);
      const round = quantizationSchemeFromJson({ ...quantizationSchemeToJson(s), format: inferWeightFormat(s) });
      expect(round.weights, name).toEqual(s.weights);
    }
    expect(quantizationArgsFromJson({ num_bits: 4, type: 'float', strategy: 'tensor_group', group_size: 16, scale_dtype: 'torch.float8_e4m3fn' }).scaleDtype).toBe('float8_e4m3fn');
  });

  it('format inference follows compressed-tensors’ compressor priority', () => {
    const f = (n: string) => inferWeightFormat(presetScheme(n));
    expect(['W4A16', 'W8A16', 'W2A16', 'W4A16_ASYM'].map(f)).toEqual(Array(4).fill('pack-quantized'));
    expect(['W8A8', 'INT8', 'W4A8', 'W4AFP8'].map(f)).toEqual(Array(4).fill('int-quantized'));
    expect(['FP8', 'FP8_DYNAMIC', 'FP8_BLOCK'].map(f)).toEqual(Array(3).fill('float-quantized'));
    expect(f('NVFP4A16')).toBe('nvfp4-pack-quantized');
    expect(f('MXFP4A16')).toBe('mxfp4-pack-quantized');
    expect(f('MXFP8A16')).toBe('mxfp8-quantized');
    expect(inferWeightFormat({ ...presetScheme('FP8'), inputActivations: null })).toBe('naive-quantized');
  });

  it('calibration is needed exactly for static activations, "local" activations and imatrix_mse', () => {
    for (const n of ['FP8', 'NVFP4']) expect(schemeNeedsCalibration(presetScheme(n)), n).not.toBeNull();
    for (const n of ['W4A16', 'W8A8', 'FP8_DYNAMIC', 'FP8_BLOCK', 'NVFP4A16', 'MXFP4', 'W4A4']) expect(schemeNeedsCalibration(presetScheme(n)), n).toBeNull();
  });

  it('group geometry and mse settings', () => {
    expect(groupGeometry(presetScheme('FP8_BLOCK').weights!, 300, 200).scaleShape).toEqual([3, 2]);
    expect(groupGeometry(presetScheme('W8A8').weights!, 300, 200).scaleShape).toEqual([300, 1]);
    expect(groupGeometry(presetScheme('FP8').weights!, 300, 200).scaleShape).toEqual([1]);
    expect(() => groupGeometry(presetScheme('W4A16').weights!, 64, 172, 'x.weight')).toThrow(/x\.weight: 172 input columns are not a multiple of group_size 128/);
    const s = mseSettings(makeQuantizationArgs({ observer: 'mse' }))!;
    expect(s).toEqual({ maxshrink: 0.2, grid: 100, norm: 2.4, patience: 5, expand: 1 });
    const p = mseShrinkFactors(s);
    expect(p.length).toBe(20);
    expect(p[0]).toBe(1);
    expect(p[7]).toBe(Math.fround(1 - 7 / 100));
    expect(() => mseSettings(makeQuantizationArgs({ observer: 'nvfp4_expanded_mse' }))).toThrow(/111 shrink steps/);
  });
});
