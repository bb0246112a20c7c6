import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { inlineArray } from '../../src/formats/joblib.js';

describe("joblib's inline arrays", () => {
  it('an object array is a nested pickle, whatever its shape', () => {
    expect(inlineArray('|O', undefined, false)).toEqual({ kind: 'pickle' });
    expect(inlineArray('O8', [3], true)).toEqual({ kind: 'pickle' });
  });

  it('raw arrays are elements × item size, for the dtype strings numpy writes', () => {
    expect(inlineArray('<f8', [2, 3], true)).toEqual({ kind: 'raw', bytes: 48n, aligned: true });
    expect(inlineArray('<U5', [2], false)).toEqual({ kind: 'raw', bytes: 40n, aligned: false });
    expect(inlineArray('|b1', [7], false)).toEqual({ kind: 'raw', bytes: 7n, aligned: false });
    expect(inlineArray('?', [], false)).toEqual({ kind: 'raw', bytes: 1n, aligned: false });
    fc.assert(
      fc.property(fc.array(fc.nat(1000), { maxLength: 4 }), fc.constantFrom(['<i4', 4], ['>c16', 16], ['|u1', 1], ['<f2', 2]), (shape, [dtype, size]) => {
        const got = inlineArray(dtype, shape, false);
        expect(got).toEqual({ kind: 'raw', bytes: shape.reduce((n, d) => n * BigInt(d), 1n) * BigInt(size as number), aligned: false });
      }),
    );
  });

  it('an unreadable shape or dtype is a problem, never a guess', () => {
    expect(inlineArray('<f8', undefined, false)).toEqual({ problem: 'NumpyArrayWrapper shape unreadable' });
    expect(inlineArray('<f8', [2, -1], false)).toEqual({ problem: 'NumpyArrayWrapper shape unreadable' });
    expect(inlineArray('<f8', [1.5], false)).toEqual({ problem: 'NumpyArrayWrapper shape unreadable' });
    expect(inlineArray('<V', [1], false)).toHaveProperty('problem');
    expect(inlineArray('[("a", "<f8")]', [1], false)).toHaveProperty('problem');
  });
});
