/** joblib's on-disk formats, as joblib.load reads them: inline arrays in a pickle stream, and the pre-0.10 zfile. */

/**
 * joblib's inline arrays. joblib.dump writes each numpy array's bytes straight into the pickle
 * stream, after the BUILD of its NumpyArrayWrapper: an alignment byte and that many padding bytes
 * when the wrapper's state has `numpy_array_alignment_bytes`, then the raw elements; an object
 * array is instead a whole nested pickle at that point. A reader must know where the array ends
 * to find the pickle stream again.
 */

/** What follows a NumpyArrayWrapper's BUILD: a nested pickle, or `bytes` raw bytes (after padding when aligned). */
type InlineArray = { kind: 'pickle' } | { kind: 'raw'; bytes: bigint; aligned: boolean };

/** The inline array a wrapper of this dtype string ('<f8', '|O') and shape (undefined: unreadable) announces. */
export function inlineArray(dtype: string, shape: readonly number[] | undefined, aligned: boolean): InlineArray | { problem: string } {
  if (dtype.replace(/^[<>|=]/, '').startsWith('O')) return { kind: 'pickle' };
  if (!shape || shape.some((d) => !Number.isInteger(d) || d < 0)) return { problem: 'NumpyArrayWrapper shape unreadable' };
  const size = itemSize(dtype);
  if (typeof size !== 'number') return size;
  return { kind: 'raw', bytes: shape.reduce((n, d) => n * BigInt(d), 1n) * BigInt(size), aligned };
}

/** Bytes per element of a numpy dtype string ('<f8', '|u1', '<U5', 'c16', '?'). */
function itemSize(code: string): number | { problem: string } {
  const m = /^[<>|=]?([a-zA-Z?])(\d*)$/.exec(code);
  if (!m) return { problem: `unsupported dtype ${JSON.stringify(code)}` };
  const kind = m[1]!;
  const n = m[2] ? Number(m[2]) : kind === '?' || kind === 'b' ? 1 : 0;
  if (kind === 'U') return 4 * n;
  if (n === 0 && kind !== '?') return { problem: `dtype without a size ${JSON.stringify(code)}` };
  return n || 1;
}

/**
 * joblib's format before 0.10 (numpy_pickle_compat, still read by joblib.load): `ZF`, the pickle's
 * length in hex padded with spaces to 19 characters (the width of hex(2**64)), one optional space
 * (Python 2 era writers), then the pickle compressed with zlib. joblib.load sees the prefix and
 * hands the file to load_compatibility, which inflates and unpickles it.
 */
const PREFIX = 'ZF';
const LENGTH_WIDTH = 19;

/** The length field as Python's int(field, 16) accepts it: spaces around, an optional 0x, hex digits and underscores. */
const LENGTH = /^\s*(0x)?[0-9a-f](_?[0-9a-f])*\s*$/i;

export function isJoblibZfile(h: Buffer): boolean {
  return h.length > PREFIX.length + LENGTH_WIDTH && h.subarray(0, 2).toString('latin1') === PREFIX && LENGTH.test(h.subarray(2, 2 + LENGTH_WIDTH).toString('latin1'));
}

/** Where the zlib stream starts, as read_zfile finds it. */
export function zfileDataOffset(h: Buffer): number {
  const at = PREFIX.length + LENGTH_WIDTH;
  return h[at] === 0x20 ? at + 1 : at;
}
