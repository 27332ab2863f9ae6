import { describe, it, expect } from 'vitest';
import { useHardware, inErrorScope } from '../helpers/gpu.js';
import { freshSeed } from '../helpers/random.js';
import { makeQuantizationArgs } from '../../src/quantization/args.js';
import { groupGeometry } from '../../src/quantization/layout.js';
import { edgyWeight, expectSame, runBoth } from './helpers.js';

const hardware = useHardware();

/**
 * compressed-tensors accepts a layer narrower than group_size as one partial
 * group per row (scale [O, 1]) and refuses only I ≥ group_size with
 * I % group_size ≠ 0 — so W4A16 (group 128) applies to 64-wide layers.
 */
describe('a layer narrower than group_size is one partial group per row', () => {
  it('has scale shape [O, 1] and still refuses a wider, indivisible layer', () => {
    const args = makeQuantizationArgs({ numBits: 4, strategy: 'group', groupSize: 128 });
    expect(groupGeometry(args, 8, 64).scaleShape).toEqual([8, 1]);
    expect(groupGeometry(args, 8, 256).scaleShape).toEqual([8, 2]);
    expect(() => groupGeometry(args, 8, 172, 'w')).toThrow(/172 input columns are not a multiple of group_size 128/);
  });

  for (const [bits, symmetric] of [[4, true], [4, false], [8, true]] as const) {
    it(`int${bits} ${symmetric ? 'sym' : 'asym'}: equals the float64 reference and the channel-wise result`, async () => {
      const hw = await hardware();
      const seed = freshSeed();
      const rows = 12;
      const cols = 64;
      const w = edgyWeight(rows, cols, seed, cols);
      const grouped = makeQuantizationArgs({ numBits: bits, symmetric, strategy: 'group', groupSize: 128 });
      const channel = makeQuantizationArgs({ numBits: bits, symmetric, strategy: 'channel' });
      await inErrorScope(hw, async () => {
        const g = await runBoth(hw, w, rows, cols, grouped);
        expectSame(`group 128 over ${cols} columns, seed ${seed}`, g.gpu, g.ref);
        const c = await runBoth(hw, w, rows, cols, channel);
        expect(Array.from(g.gpu.scales), `seed ${seed}`).toEqual(Array.from(c.gpu.scales));
        expect(Array.from(g.gpu.packed), `seed ${seed}`).toEqual(Array.from(c.gpu.packed));
      });
    });
  }
});
