import type { Format } from '../core/formats.js';
import type { Bytes } from './bytes.js';
import { isJoblibZfile } from './joblib.js';
import { isLz4Frame } from './lz4.js';
import { HIGHEST_PROTOCOL, opcodeByte, type OpcodeName } from './pickle-opcodes.js';

/** Container or content kinds recognised by their first bytes, never by file name. */
export type Sniffed = Extract<Format, 'zip' | 'npy' | 'pickle' | 'gzip' | 'zlib' | 'bz2' | 'xz' | 'lzma' | 'lz4' | 'joblib-zfile' | 'hdf5' | 'gguf' | 'safetensors' | 'tar' | '7z' | 'unknown'>;

/**
 * Opcodes CPython's C unpickler accepts as the first of a stream: the ones that push without
 * popping (a pickle needs no PROTO header — protocols 0 and 1 write none, and the unpickler never
 * insists on one). MARK, the empty containers, NONE/NEWTRUE/NEWFALSE, every INT/LONG/FLOAT and
 * string/bytes form, GLOBAL, PERSID, FRAME; the memo GETs and EXTs, which succeed only with a
 * registered extension or never at the start, are kept so their streams are analysed and reported
 * rather than called unknown.
 */
const PICKLE_START_OPS: readonly OpcodeName[] = [
  'MARK',
  'EMPTY_LIST',
  'EMPTY_DICT',
  'EMPTY_TUPLE',
  'EMPTY_SET',
  'NONE',
  'NEWTRUE',
  'NEWFALSE',
  'INT',
  'BININT',
  'BININT1',
  'BININT2',
  'LONG',
  'LONG1',
  'LONG4',
  'FLOAT',
  'BINFLOAT',
  'STRING',
  'BINSTRING',
  'SHORT_BINSTRING',
  'UNICODE',
  'SHORT_BINUNICODE',
  'BINUNICODE',
  'BINUNICODE8',
  'BINBYTES',
  'SHORT_BINBYTES',
  'BINBYTES8',
  'BYTEARRAY8',
  'GLOBAL',
  'PERSID',
  'FRAME',
  'GET',
  'BINGET',
  'LONG_BINGET',
  'EXT1',
  'EXT2',
  'EXT4',
];
const PICKLE_START = new Set(PICKLE_START_OPS.map(opcodeByte));

/** True when the first byte is an opcode a pickle stream can validly begin with (PROTO 0..HIGHEST_PROTOCOL included). */
export function startsLikePickle(h: Buffer): boolean {
  if (h.length < 2) return false;
  return h[0] === 0x80 ? h[1]! <= HIGHEST_PROTOCOL : PICKLE_START.has(h[0]!);
}

export function sniff(bytes: Bytes): Sniffed {
  const h = bytes.read(0, 512);
  if (h.length >= 4 && h[0] === 0x50 && h[1] === 0x4b && (h[2] === 3 || h[2] === 5) && (h[3] === 4 || h[3] === 6)) return 'zip';
  if (h.length >= 6 && h.subarray(0, 6).equals(Buffer.from('\x93NUMPY', 'latin1'))) return 'npy';
  if (h.length >= 2 && h[0] === 0x80 && h[1]! <= HIGHEST_PROTOCOL) return 'pickle';
  if (h.length >= 2 && h[0] === 0x1f && h[1] === 0x8b) return 'gzip';
  if (h.length >= 2 && h[0] === 0x78 && ((h[0] << 8) | h[1]!) % 31 === 0) return 'zlib';
  if (h.length >= 3 && h.subarray(0, 3).toString('latin1') === 'BZh') return 'bz2';
  if (h.length >= 6 && h.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (h.length >= 13 && isLzmaAlone(h)) return 'lzma';
  if (isLz4Frame(h)) return 'lz4';
  if (isJoblibZfile(h)) return 'joblib-zfile';
  if (h.length >= 8 && h.subarray(0, 8).equals(Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'hdf5';
  if (h.length >= 4 && h.subarray(0, 4).toString('latin1') === 'GGUF') return 'gguf';
  if (h.length >= 6 && h.subarray(0, 6).equals(Buffer.from([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c]))) return '7z';
  if (h.length >= 262 && h.subarray(257, 262).toString('latin1') === 'ustar') return 'tar';
  if (h.length >= 9) {
    const n = h.readBigUInt64LE(0);
    if (n > 1n && n + 8n <= BigInt(bytes.size) && h[8] === 0x7b /* { */) return 'safetensors';
  }
  if (startsLikePickle(h)) return 'pickle';
  return 'unknown';
}

/**
 * The legacy .lzma ("alone") header: a properties byte (0x5d, lc=3 lp=0 pb=2, for every preset
 * Python's lzma module and xz write), a dictionary size, then the uncompressed size or all ones for
 * "unknown". There is no magic number, so the dictionary size must be one xz would write (2^n or
 * 2^n + 2^(n-1), 4 KiB .. 1.5 GiB) and a known size must be plausible.
 */
function isLzmaAlone(h: Buffer): boolean {
  if (h[0] !== 0x5d) return false;
  const dict = h.readUInt32LE(1);
  const pow2 = (n: number) => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
  if (dict < 4096 || dict > 1536 * 2 ** 20 || !(pow2(dict) || pow2(dict / 3))) return false;
  const size = h.readBigUInt64LE(5);
  return size === 0xffffffffffffffffn || size < 1n << 48n;
}
