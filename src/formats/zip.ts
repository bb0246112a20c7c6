import { crc32, inflateRawSync } from 'node:zlib';
import { BufBytes, type Bytes } from './bytes.js';
import type { Limits } from './limits.js';
import { unpack } from './unpack.js';

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  crc: number;
  encrypted: boolean;
  /** Offset of the member's data in the archive. */
  dataOffset: number;
}

export interface ZipProblem {
  ruleId: 'LT-ZIP-001' | 'LT-ZIP-002' | 'LT-ZIP-003' | 'LT-ZIP-004' | 'LT-ZIP-005' | 'LT-ZIP-006' | 'LT-LIM-001';
  message: string;
  entry?: string;
  offset?: number;
}

export interface ZipArchive {
  entries: ZipEntry[];
  problems: ZipProblem[];
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

/**
 * Our own central-directory reader, because the loaders that matter (torch, numpy) trust the
 * central directory while other tools read local headers: where the two disagree, a scanner can be
 * shown one file and the loader another. Every entry's local header is cross-checked against the
 * central directory; duplicate names, encryption, absurd compression ratios and truncation are
 * problems, never exceptions. Member data is not read here.
 */
export function readZip(bytes: Bytes, limits: Limits): ZipArchive {
  const problems: ZipProblem[] = [];
  const tailLen = Math.min(bytes.size, 22 + 65_535 + 20);
  const tail = bytes.read(bytes.size - tailLen, tailLen);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--)
    if (tail.readUInt32LE(i) === EOCD) {
      eocd = i;
      break;
    }
  if (eocd < 0) return { entries: [], problems: [{ ruleId: 'LT-ZIP-006', message: 'no end-of-central-directory record: truncated or not a zip' }] };
  let count = tail.readUInt16LE(eocd + 10);
  let cdSize = tail.readUInt32LE(eocd + 12);
  let cdOffset = tail.readUInt32LE(eocd + 16);
  const loc = eocd - 20;
  let zip64 = false;
  if (loc >= 0 && tail.readUInt32LE(loc) === ZIP64_LOCATOR) {
    const z = bytes.read(Number(tail.readBigUInt64LE(loc + 8)), 56);
    if (z.length === 56 && z.readUInt32LE(0) === ZIP64_EOCD) {
      zip64 = true;
      count = Number(z.readBigUInt64LE(32));
      cdSize = Number(z.readBigUInt64LE(40));
      cdOffset = Number(z.readBigUInt64LE(48));
    }
  }
  // CPython's zipfile takes the distance between where the directory ends and where the end record
  // sits as bytes prepended to the archive and shifts every offset by it (numpy's npz loading reads
  // there); torch's reader (miniz) does not. A nonzero shift is two archives in one file.
  const concat = bytes.size - tailLen + eocd - (zip64 ? 56 + 20 : 0) - cdSize - cdOffset;
  if (concat !== 0) {
    problems.push({
      ruleId: 'LT-ZIP-001',
      message: `the central directory ends ${concat} bytes away from the end record: Python's zipfile shifts every member by that much and torch does not, so the two read different members`,
      offset: cdOffset,
    });
  }
  if (count > limits.maxZipEntries) {
    problems.push({ ruleId: 'LT-LIM-001', message: `${count} zip entries, more than the limit ${limits.maxZipEntries}; the rest are not analysed` });
    count = limits.maxZipEntries;
  }
  if (cdOffset + cdSize > bytes.size || cdSize > limits.maxHeaderBytes) {
    return { entries: [], problems: [...problems, { ruleId: 'LT-ZIP-006', message: 'central directory lies outside the file' }] };
  }
  const cd = bytes.read(cdOffset, cdSize);
  const entries: ZipEntry[] = [];
  const names = new Set<string>();
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cd.length || cd.readUInt32LE(p) !== CENTRAL) {
      problems.push({ ruleId: 'LT-ZIP-006', message: `central directory entry ${i} is malformed`, offset: cdOffset + p });
      break;
    }
    const flags = cd.readUInt16LE(p + 8);
    const method = cd.readUInt16LE(p + 10);
    const crc = cd.readUInt32LE(p + 16);
    let csize = cd.readUInt32LE(p + 20);
    let usize = cd.readUInt32LE(p + 24);
    const nameLen = cd.readUInt16LE(p + 28);
    const extraLen = cd.readUInt16LE(p + 30);
    const commentLen = cd.readUInt16LE(p + 32);
    let lho = cd.readUInt32LE(p + 42);
    const name = cd.subarray(p + 46, p + 46 + nameLen).toString('utf8');
    const extra = cd.subarray(p + 46 + nameLen, p + 46 + nameLen + extraLen);
    // ZIP64 extended information: the 0xffffffff fields come from extra field 0x0001, in order.
    for (let e = 0; e + 4 <= extra.length;) {
      const id = extra.readUInt16LE(e);
      const len = extra.readUInt16LE(e + 2);
      if (id === 1) {
        let q = e + 4;
        const next = () => (q + 8 <= e + 4 + len ? Number(extra.readBigUInt64LE((q += 8) - 8)) : undefined);
        if (usize === 0xffffffff) usize = next() ?? usize;
        if (csize === 0xffffffff) csize = next() ?? csize;
        if (lho === 0xffffffff) lho = next() ?? lho;
      }
      e += 4 + len;
    }
    p += 46 + nameLen + extraLen + commentLen;
    if (names.has(name)) problems.push({ ruleId: 'LT-ZIP-002', message: `duplicate member name ${JSON.stringify(name)}: loaders disagree on which one counts`, entry: name });
    names.add(name);
    const local = bytes.read(lho, 30);
    if (local.length < 30 || local.readUInt32LE(0) !== LOCAL) {
      problems.push({ ruleId: 'LT-ZIP-001', message: `member ${JSON.stringify(name)} has no local header where the central directory points`, entry: name, offset: lho });
      continue;
    }
    const lNameLen = local.readUInt16LE(26);
    const lExtraLen = local.readUInt16LE(28);
    const lName = bytes.read(lho + 30, lNameLen).toString('utf8');
    if (lName !== name || local.readUInt16LE(8) !== method) {
      problems.push({
        ruleId: 'LT-ZIP-001',
        message: `local header of ${JSON.stringify(name)} disagrees with the central directory (${JSON.stringify(lName)}, method ${local.readUInt16LE(8)})`,
        entry: name,
        offset: lho,
      });
    }
    const encrypted = (flags & 1) !== 0;
    if (encrypted) problems.push({ ruleId: 'LT-ZIP-004', message: `member ${JSON.stringify(name)} is encrypted and cannot be analysed`, entry: name });
    const dataOffset = lho + 30 + lNameLen + lExtraLen;
    if (dataOffset + csize > bytes.size) {
      problems.push({ ruleId: 'LT-ZIP-006', message: `member ${JSON.stringify(name)} runs past the end of the file`, entry: name, offset: lho });
      continue;
    }
    if (method === 8 && csize > 0 && usize / csize > limits.maxCompressionRatio) {
      problems.push({
        ruleId: 'LT-ZIP-005',
        message: `member ${JSON.stringify(name)} claims a ${Math.round(usize / csize)}:1 compression ratio (limit ${limits.maxCompressionRatio}): a zip bomb`,
        entry: name,
      });
    }
    entries.push({ name, method, compressedSize: csize, size: usize, crc, encrypted, dataOffset });
  }
  return { entries, problems };
}

/**
 * A member's bytes (stored, deflated, bzip2 or LZMA: every method Python's zipfile reads, so an npz
 * member numpy loads is never skipped as "unsupported"), bounded: never more than the in-memory limit.
 * Irregularities that a real loader reads past — a CRC or size that does not match (torch's reader
 * does not check CRCs), a stored member whose two sizes differ — are problems that come *with*
 * the data, so what the loader would unpickle is still analysed. A problem alone is returned only
 * when the bytes cannot be had (encrypted, unknown method, over a bound, not inflatable).
 */
export function memberData(bytes: Bytes, e: ZipEntry, limits: Limits): { data: Bytes; problems: ZipProblem[] } | { problem: ZipProblem } {
  if (e.encrypted) return { problem: { ruleId: 'LT-ZIP-004', message: `member ${JSON.stringify(e.name)} is encrypted`, entry: e.name } };
  const raw = bytes.slice(e.dataOffset, e.compressedSize);
  const problems: ZipProblem[] = [];
  const badCrc = (what: string) =>
    problems.push({ ruleId: 'LT-ZIP-003', message: `member ${JSON.stringify(e.name)} fails its ${what} check; analysed anyway, as loaders that skip the check read it`, entry: e.name });
  if (e.method === 0) {
    if (e.size !== e.compressedSize)
      problems.push({ ruleId: 'LT-ZIP-001', message: `stored member ${JSON.stringify(e.name)} has different sizes; its ${e.compressedSize} stored bytes were analysed`, entry: e.name });
    if (e.compressedSize <= limits.maxCrcCheckBytes && crc32(raw.read(0, e.compressedSize)) !== e.crc) badCrc('CRC');
    return { data: raw, problems };
  }
  if (e.method !== 8 && e.method !== 12 && e.method !== 14)
    return { problem: { ruleId: 'LT-ZIP-006', message: `member ${JSON.stringify(e.name)} uses compression method ${e.method}, not analysed`, entry: e.name } };
  if (e.size > limits.maxInMemoryBytes || (e.compressedSize > 0 && e.size / e.compressedSize > limits.maxCompressionRatio)) {
    return { problem: { ruleId: 'LT-LIM-001', message: `compressed member ${JSON.stringify(e.name)} of ${e.size} bytes is over the in-memory limit or ratio; not analysed`, entry: e.name } };
  }
  let out: Buffer;
  if (e.method === 12 || e.method === 14) {
    const got = unpack(e.method === 12 ? 'bz2' : 'lzma', e.method === 12 ? raw.read(0, e.compressedSize) : lzmaAlone(raw.read(0, e.compressedSize), e.size), limits);
    if ('problem' in got) return { problem: { ruleId: got.limit ? 'LT-LIM-001' : 'LT-ZIP-006', message: `member ${JSON.stringify(e.name)}: ${got.problem}`, entry: e.name } };
    out = got.data;
  } else {
    try {
      out = inflateRawSync(raw.read(0, e.compressedSize), { maxOutputLength: Math.min(limits.maxInMemoryBytes, Math.max(1, e.size, limits.maxCompressionRatio * e.compressedSize)) });
    } catch (err) {
      return { problem: { ruleId: 'LT-ZIP-006', message: `member ${JSON.stringify(e.name)} does not inflate: ${err instanceof Error ? err.message : String(err)}`, entry: e.name } };
    }
  }
  if (out.length !== e.size) badCrc('size');
  else if (crc32(out) !== e.crc) badCrc('CRC');
  return { data: new BufBytes(out), problems };
}

/**
 * A zip LZMA member (APPNOTE 5.8.8: 2-byte version, 2-byte properties size, the 5 properties bytes,
 * then the raw stream) as a legacy .lzma stream (properties, 64-bit uncompressed size, stream) that
 * xz decodes. A malformed header is passed through for the decoder to reject.
 */
function lzmaAlone(member: Buffer, size: number): Buffer {
  if (member.length < 9 || member.readUInt16LE(2) !== 5) return member;
  const header = Buffer.alloc(13);
  member.copy(header, 0, 4, 9);
  header.writeBigUInt64LE(BigInt(size), 5);
  return Buffer.concat([header, member.subarray(9)]);
}
