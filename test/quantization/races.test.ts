import { describe, it, expect } from 'vitest';
import { detectRaces } from 'wgsl_reflect/wgsl_reflect.module.js';
import { useHardware } from '../helpers/gpu.js';
import { randn } from '../helpers/random.js';
import { makeQuantizationArgs, type QuantizationArgsInput } from '../../src/quantization/args.js';
import { planQuantization } from '../../src/quantization/quantizeWeight.js';
import { overrideConstants } from '../../src/quantization/kernels/quantize.js';

const hardware = useHardware();
const WG = 64;

/**
 * wgsl_reflect's race detector runs every invocation of one workgroup in
 * lockstep and reports accesses to the same workgroup (or storage) bytes
 * from two invocations without a barrier between them. It interprets the
 * workgroup-memory variant (it has no subgroups), at a small dispatch.
 */
describe('no data races in kernels that use var<workgroup> (wgsl_reflect detectRaces)', () => {
  const cases: { entry: string; args: QuantizationArgsInput; rows: number; cols: number }[] = [
    { entry: 'quantizeGroups', args: { numBits: 4, strategy: 'group', groupSize: 64, symmetric: false }, rows: 4, cols: 128 },
    { entry: 'quantizeGroups', args: { numBits: 8, strategy: 'channel' }, rows: 3, cols: 200 },
    { entry: 'quantizeSegments', args: { numBits: 4, type: 'float', strategy: 'tensor_group', groupSize: 16, scaleDtype: 'float8_e4m3fn' }, rows: 2, cols: 64 },
    { entry: 'mseGroups', args: { numBits: 4, strategy: 'group', groupSize: 128, observer: 'mse', observerKwargs: { grid: 10, maxshrink: 0.3 } }, rows: 2, cols: 128 },
    { entry: 'mseSegments', args: { numBits: 4, strategy: 'group', groupSize: 16, observer: 'mse', observerKwargs: { grid: 10, maxshrink: 0.3 } }, rows: 2, cols: 64 },
  ];
  for (const c of cases) {
    it(`${c.entry} (${JSON.stringify(c.args)})`, async () => {
      const hw = await hardware();
      const args = makeQuantizationArgs(c.args, 'race');
      const plan = planQuantization(args, c.rows, c.cols, { fake: true });
      const constants = { WG, ...overrideConstants(plan.overrides) };
      const kernel = hw.kernels.get({ shader: 'quantize', entryPoint: c.entry, flags: { SUBGROUPS: false, VEC4: false }, constants });
      const groups = c.entry.endsWith('Groups');
      const units = groups ? Math.ceil(c.rows / plan.geometry.groupRows) * plan.geometry.nGroupCols : c.rows * plan.constants.segsPerRow;
      expect(groups ? units * plan.constants.tpg : units).toBeLessThanOrEqual(WG);
      const uniforms = kernel.packUniforms({
        ...plan.constants, rows: c.rows, inRowBase: 0, outRowBase: 0, globalRowBase: 0, nUnits: units, nWorkgroups: 1, errOffset: plan.errOffset,
      });
      const w = randn(c.rows * c.cols, 7, 0.1);
      const aux = plan.aux.slice();
      aux[0] = 0x3d000000 ^ 0x7fffffff; // global min key (~bits of a negative value)
      aux[1] = 0xbd800000; // global max key
      const bindGroups = {
        0: {
          0: { uniform: uniforms },
          1: w.buffer.slice(0),
          2: new ArrayBuffer(c.rows * plan.rowWords * 4),
          3: new ArrayBuffer((plan.errOffset + 2) * 4),
          4: new ArrayBuffer(c.rows * c.cols * 4),
          5: aux.buffer.slice(0),
          6: aux.buffer.slice(0),
        },
      };
      const { races, errors } = detectRaces(kernel.wgsl, c.entry, [1, 1, 1], bindGroups, { constants });
      expect(errors, errors.join('\n')).toEqual([]);
      expect(races.map((r) => r.message)).toEqual([]);
    });
  }

  it('observeTensor, whole-tensor reduction', async () => {
    const hw = await hardware();
    const kernel = hw.kernels.get({ shader: 'observe', entryPoint: 'observeTensor', flags: { SUBGROUPS: false, VEC4: false }, constants: { WG } });
    const rows = 4;
    const cols = 96;
    const uniforms = kernel.packUniforms({
      rows, cols, inRowBase: 0, globalRowBase: 0, groupRows: rows, groupCols: cols, nGroupCols: 1, nUnits: (rows * cols) / 32, nWorkgroups: 1, segsPerRow: 3, statsOffset: 0,
    });
    const stats = new Uint32Array([0xffffffff, 0]);
    const { races, errors } = detectRaces(kernel.wgsl, 'observeTensor', [1, 1, 1], { 0: { 0: { uniform: uniforms }, 1: randn(rows * cols, 3).buffer, 2: stats.buffer } }, { constants: { WG } });
    expect(errors, errors.join('\n')).toEqual([]);
    expect(races.map((r) => r.message)).toEqual([]);
  });
});
