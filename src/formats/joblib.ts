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
