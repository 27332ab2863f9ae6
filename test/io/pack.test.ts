import { describe, it, expect } from 'vitest';
import { packInt32, unpackInt32, packZeroPoints, unpackZeroPoints, packedWords } from '../../src/io/compressed/pack.js';
import { encodeFp4, decodeFp4, packFp4, unpackFp4 } from '../../src/io/numeric/fp4.js';
import { rng, freshSeed } from '../helpers/random.js';

const i8 = (a: number[]) => Int8Array.from(a);

describe('packInt32: compressed-tensors test_pack_to_int32 vectors (§6.1), bit for bit', () => {
  const cases: [number, number[][], number[][]][] = [
    [4, [[1]], [[9]]],
    [8, [[1]], [[129]]],
    [4, [[1, 2, 3, 4]], [[52137]]],
    [4, [[-8, -7, -6, -5, -4, -3, -2, -1]], [[1985229328]]],
    [8, [[1, 2, 3, 4]], [[-2071756159]]],
    [8, [[-128, -127, -126, -125]], [[50462976]]],
    [4, [[-8, -7, -6, -5, -4, -3, -2, -1, 1, 2, 3, 4]], [[1985229328, 52137]]],
    [4, [[-8, -7, -6, -5, -4, -3, -2, -1, 1, 2, 3, 4, -8, -8, -8, -8], [1, 2, 3, 4, -8, -8, -8, -8, -8, -7, -6, -5, -4, -3, -2, -1]], [[1985229328, 52137], [52137, 1985229328]]],
    [8, [[1, 2, 3, 4], [-128, -127, -126, -125]], [[-2071756159], [50462976]]],
    [8, [[1, 2, 3, 4, -128, -127, -126, -125], [-128, -127, -126, -125, 1, 2, 3, 4]], [[-2071756159, 50462976], [50462976, -2071756159]]],
  ];
  for (const [bits, rows, want] of cases) {
    it(`${bits}-bit ${JSON.stringify(rows)}`, () => {
      const packed = packInt32(i8(rows.flat()), rows.length, rows[0].length, bits);
      expect([...packed]).toEqual(want.flat());
      expect([...unpackInt32(packed, rows.length, rows[0].length, bits)]).toEqual(rows.flat());
    });
  }

  it('§6.4 worked examples: W4 symmetric and asymmetric rows, zero points down the output dim', () => {
    expect(packInt32(i8([1, -3, 7, -8, 0, 4, -1, 5]), 1, 8, 4)[0] >>> 0).toBe(0xd7c80f59);
    expect(packInt32(i8([1, -3, 7, -8, 0, 4, -1, 5]), 1, 8, 4)[0]).toBe(-674754727);
    expect(packInt32(i8([-8, -6, -3, 3, 7, -4, -7, 0]), 1, 8, 4)[0] >>> 0).toBe(0x814fb520);
    const zp = packZeroPoints(i8([-8, 0, 7, -1, 3, 2, -5, 1, 4]), 9, 1, 4);
    expect([...zp].map((x) => x >>> 0)).toEqual([0x93ab7f80, 0x0000000c]);
    expect([...unpackZeroPoints(zp, 9, 1, 4)]).toEqual([-8, 0, 7, -1, 3, 2, -5, 1, 4]);
  });

  it('byte view: int4 rows are the low-nibble-first stream, int8 rows the offset bytes', () => {
    const q = i8([1, -3, 7, -8, 0, 4, -1, 5]);
    const bytes = new Uint8Array(packInt32(q, 1, 8, 4).buffer);
    for (let k = 0; k < 4; k++) expect(bytes[k]).toBe((q[2 * k] + 8) | ((q[2 * k + 1] + 8) << 4));
    const q8 = i8([-128, 5, 127, 0]);
    expect([...new Uint8Array(packInt32(q8, 1, 4, 8).buffer)]).toEqual([0, 133, 255, 128]);
  });

  it('cross-word packing for widths that do not divide 32 (3, 5, 6, 7 bits)', () => {
    // 3 bits: element 10 sits at bits 30..32 and spills one bit into the next word.
    const q = new Int8Array(11).fill(-4);
    q[10] = 3; // u = 7 = 0b111
    const p = packInt32(q, 1, 11, 3);
    expect(p.length).toBe(2);
    expect(p[0] >>> 0).toBe(0xc0000000);
    expect(p[1]).toBe(1);
    // 5 bits, one element per 5-bit slot, checked against a bit-string reference
    for (const bits of [1, 2, 3, 5, 6, 7]) {
      const seed = freshSeed();
      const r = rng(seed);
      const rows = 3;
      const cols = 37;
      const codes = new Int8Array(rows * cols);
      for (let i = 0; i < codes.length; i++) codes[i] = Math.floor(r() * (1 << bits)) - (1 << (bits - 1));
      const packed = packInt32(codes, rows, cols, bits);
      const wpr = packedWords(cols, bits);
      for (let row = 0; row < rows; row++) {
        // reference: little-endian bit string of the row
        let bitsStr = '';
        for (let e = 0; e < cols; e++) {
          const u = codes[row * cols + e] + (1 << (bits - 1));
          for (let b = 0; b < bits; b++) bitsStr += (u >> b) & 1;
        }
        bitsStr = bitsStr.padEnd(wpr * 32, '0');
        for (let w = 0; w < wpr; w++) {
          const want = parseInt(bitsStr.slice(w * 32, w * 32 + 32).split('').reverse().join(''), 2);
          expect(packed[row * wpr + w] >>> 0, `seed ${seed} bits ${bits} row ${row} word ${w}`).toBe(want);
        }
      }
      expect([...unpackInt32(packed, rows, cols, bits)]).toEqual([...codes]);
    }
  });

  it('round-trips random codes for every width 1..8, and zero points', () => {
    const seed = freshSeed();
    const r = rng(seed);
    for (let bits = 1; bits <= 8; bits++) {
      const rows = 1 + Math.floor(r() * 17);
      const cols = 1 + Math.floor(r() * 70);
      const codes = new Int8Array(rows * cols);
      for (let i = 0; i < codes.length; i++) codes[i] = Math.floor(r() * (1 << bits)) - (1 << (bits - 1));
      const packed = packInt32(codes, rows, cols, bits);
      expect(packed.length).toBe(rows * Math.ceil((cols * bits) / 32));
      expect([...unpackInt32(packed, rows, cols, bits)], `seed ${seed}`).toEqual([...codes]);
      const zp = packZeroPoints(codes, rows, cols, bits);
      expect(zp.length).toBe(Math.ceil((rows * bits) / 32) * cols);
      expect([...unpackZeroPoints(zp, rows, cols, bits)], `seed ${seed}`).toEqual([...codes]);
    }
  });

  it('rejects out-of-range codes and bad widths', () => {
    expect(() => packInt32(i8([8]), 1, 1, 4)).toThrow(/code 8 at \[0, 0\]/);
    expect(() => packInt32(i8([-9]), 1, 1, 4)).toThrow(RangeError);
    expect(() => packInt32(i8([0]), 1, 1, 9)).toThrow(/1 to 8/);
    expect(() => packInt32(i8([0, 0]), 1, 3, 4)).toThrow(/do not form/);
  });
});

describe('FP4 E2M1', () => {
  it('test_fp4_quant row 0: values → codes → bytes (§6.1)', () => {
    const values = [-0.5, -6, -0.5, -1.5, -1, 6, 0, -0];
    const codes = Uint8Array.from(values.map(encodeFp4));
    expect([...codes]).toEqual([9, 15, 9, 11, 10, 7, 0, 8]);
    const packed = packFp4(codes, 1, 8);
    expect([...packed]).toEqual([0xf9, 0xb9, 0x7a, 0x80]);
    expect([...unpackFp4(packed, 1, 8)]).toEqual([...codes]);
    expect([...codes].map(decodeFp4)).toEqual(values);
    expect(Object.is(decodeFp4(8), -0)).toBe(true);
  });

  it('rounds half to even on the E2M1 grid and saturates at 6', () => {
    const cases: [number, number][] = [
      [0.25, 0], [0.2500001, 0.5], [0.75, 1], [0.7499, 0.5], [1.25, 1], [1.2501, 1.5], [1.75, 2], [1.7499, 1.5],
      [2.5, 2], [2.5001, 3], [3.5, 4], [3.4999, 3], [5, 4], [5.0001, 6], [100, 6], [-2.5, -2], [-0.1, -0],
    ];
    for (const [x, want] of cases) expect(Object.is(decodeFp4(encodeFp4(x)), want), `${x} -> ${want}`).toBe(true);
  });
});
