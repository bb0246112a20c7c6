import { constants, gunzipSync, inflateSync } from 'node:zlib';
import { BufBytes, type Bytes } from '../../formats/bytes.js';
import type { Limits } from '../../formats/limits.js';
import { sniff, startsLikePickle } from '../../formats/sniff.js';
import { unpack, type Compression } from '../../formats/unpack.js';

/**
 * Pickles hidden in constants: a bytes or string value that is a pickle, or becomes one through
 * text encodings (hex, base64 in either alphabet, with or without padding and line breaks) and
 * compressions (zlib, gzip, bz2, xz, lzma), in any order and several stages deep. Recognising one
 * reads only a bounded prefix, decoding the prefix through each stage; only a constant recognised
 * that way is decoded whole, within the in-memory bound.
 */
export type Stage = 'hex' | 'base64' | Compression;

/** A pickle is at least a few bytes; shorter constants (names, modes, dtypes) are not looked at. */
const MIN_BYTES = 8;
/** Hex or base64 text shorter than this is an ordinary word, not an encoded pickle. */
const MIN_TEXT = 16;
/** Bytes of a prefix decoded through the stages to recognise what lies under them. */
const PREFIX = 4096;
/** Stages followed before giving up (base64 of hex of zlib of … a pickle). */
export const MAX_STAGES = 6;

const isWs = (c: number) => c === 0x20 || (c >= 0x09 && c <= 0x0d);
const isHex = (c: number) => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
/** Both alphabets (standard +/, URL-safe -_) and padding: base64.b64decode, urlsafe_b64decode and a2b_base64 all read these. */
const isB64 = (c: number) => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2f || c === 0x2d || c === 0x5f || c === 0x3d;

/** The text without ASCII whitespace, when every other byte satisfies `ok`; undefined otherwise. */
function significant(b: Buffer, ok: (c: number) => boolean): string | undefined {
  let s = '';
  for (const c of b) {
    if (isWs(c)) continue;
    if (!ok(c)) return undefined;
    s += String.fromCharCode(c);
  }
  return s;
}

/** Decodes the whole of a text stage (hex or base64); undefined when the text is not that encoding. */
function decodeText(stage: 'hex' | 'base64', b: Buffer, whole: boolean): Buffer | undefined {
  const s = significant(b, stage === 'hex' ? isHex : isB64);
  if (s === undefined || s.length < MIN_TEXT) return undefined;
  if (stage === 'hex') {
    if (whole && s.length % 2 !== 0) return undefined;
    return Buffer.from(s.slice(0, s.length - (s.length % 2)), 'hex');
  }
  // padding ends the data (b64decode stops there); a prefix decodes whole quartets only
  const data = s.split('=')[0]!;
  return Buffer.from(whole ? data : data.slice(0, data.length - (data.length % 4)), 'base64');
}

/**
 * The beginning of a compressed stream's content, from the first KiB of the stream (zlib/gzip
 * only: the others need a child process). Deflate expands at most ~1032:1, which bounds the output.
 */
function inflatePrefix(kind: 'zlib' | 'gzip', b: Buffer): Buffer | undefined {
  try {
    return (kind === 'gzip' ? gunzipSync : inflateSync)(b.subarray(0, 1024), { finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: 1100 * 1024 }).subarray(0, PREFIX);
  } catch {
    return undefined;
  }
}

const COMPRESSIONS = new Set<string>(['zlib', 'gzip', 'bz2', 'xz', 'lzma']);

/**
 * A chain of stages from a constant's prefix to what starts like a pickle, and that pickle's
 * prefix as decoded (undefined for bz2, xz and lzma, recognised by their headers only: their
 * content is checked when the constant is decoded whole).
 */
export interface Encoding {
  stages: Stage[];
  prefix?: Buffer;
  /** The prefix is the whole decoded content: where it ends, the loader's input ends too. */
  complete: boolean;
}

/**
 * The stages that lead from this prefix of a constant to a pickle ([] when it starts like one
 * itself), or undefined when no chain of at most MAX_STAGES does.
 */
export function encodedStages(head: Buffer, whole: boolean, stages = 0): Encoding | undefined {
  if (head.length < MIN_BYTES || stages > MAX_STAGES) return undefined;
  for (const stage of ['hex', 'base64'] as const) {
    const next = decodeText(stage, head.subarray(0, 2 * PREFIX), false);
    const rest = next && encodedStages(next, whole && head.length <= 2 * PREFIX, stages + 1);
    if (rest) return { ...rest, stages: [stage, ...rest.stages] };
  }
  const kind = sniff(new BufBytes(head));
  if (COMPRESSIONS.has(kind)) {
    if (kind !== 'zlib' && kind !== 'gzip') return { stages: [kind as Compression], complete: false };
    const next = inflatePrefix(kind, head);
    const rest = next && encodedStages(next, false, stages + 1);
    return rest ? { ...rest, stages: [kind, ...rest.stages] } : undefined;
  }
  return startsLikePickle(head) ? { stages: [], prefix: head, complete: whole } : undefined;
}

export type Decoded = { bytes: Bytes } | { problem: string; limit: boolean };

/**
 * Decodes a whole constant through its stages. No stage: the constant itself, in place, whatever
 * its size. Otherwise each stage's input and output are bounded by the in-memory limit; a constant
 * that would decode to more is a limit (what it holds could not be analysed).
 */
export function decodeStages(data: Bytes, stages: readonly Stage[], limits: Limits): Decoded {
  if (stages.length === 0) return { bytes: data };
  const textCap = 2 * limits.maxInMemoryBytes + (limits.maxInMemoryBytes >> 2);
  if (data.size > textCap) return { problem: `an encoded constant of ${data.size} bytes is over the in-memory limit of ${limits.maxInMemoryBytes} bytes once decoded; not decoded`, limit: true };
  let cur = data.read(0, data.size);
  for (const stage of stages) {
    if (stage === 'hex' || stage === 'base64') {
      const next = decodeText(stage, cur, true);
      if (!next) return { problem: `not ${stage} text throughout`, limit: false };
      if (next.length > limits.maxInMemoryBytes) return { problem: `${stage} content larger than the in-memory limit of ${limits.maxInMemoryBytes} bytes; not analysed`, limit: true };
      cur = next;
      continue;
    }
    const got = unpack(stage, cur, limits);
    if ('problem' in got) return got;
    if (got.cut) return { problem: got.cut.replace(/only its first \d+ bytes were analysed$/, 'not analysed'), limit: true };
    cur = got.data;
  }
  return { bytes: new BufBytes(cur) };
}
