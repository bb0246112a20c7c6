/**
 * LZ4 frames (the format of python-lz4's LZ4FrameFile, which joblib uses for `compress='lz4'`),
 * decoded with a hard bound on the output. Frames back to back are read one after another and
 * skippable frames are skipped, as LZ4FrameFile does; checksums are not verified (a loader that
 * checks them refuses the file, one that does not reads these bytes: analysing them is the safe
 * side). Linked blocks need the previous output as their window; decoding into one buffer gives it.
 */

const FRAME_MAGIC = 0x184d2204;
const SKIPPABLE_MIN = 0x184d2a50;
const SKIPPABLE_MAX = 0x184d2a5f;

export type Lz4Result = { data: Buffer; cut?: string } | { problem: string; limit: boolean };

export function isLz4Frame(h: Buffer): boolean {
  return h.length >= 4 && h.readUInt32LE(0) === FRAME_MAGIC;
}

class Output {
  buf: Buffer;
  len = 0;
  constructor(
    private readonly cap: number,
    initial: number,
  ) {
    this.buf = Buffer.allocUnsafe(Math.max(1, Math.min(cap, initial)));
  }
  /** Room for n more bytes; false when the bound would be passed. */
  reserve(n: number): boolean {
    if (this.len + n > this.cap) return false;
    if (this.len + n > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.min(this.cap, Math.max(this.len + n, this.buf.length * 2)));
      this.buf.copy(grown, 0, 0, this.len);
      this.buf = grown;
    }
    return true;
  }
}

class Lz4Error extends Error {
  constructor(
    message: string,
    readonly limit = false,
  ) {
    super(message);
  }
}

/** Decodes the frames of `input` into at most `cap` bytes; over the bound, the prefix decoded so far is returned with `cut`. */
export function decodeLz4Frames(input: Buffer, cap: number): Lz4Result {
  const out = new Output(cap, input.length * 4);
  let pos = 0;
  try {
    while (pos < input.length) {
      if (input.length - pos < 4) throw new Lz4Error('truncated frame magic');
      const magic = input.readUInt32LE(pos);
      if (magic >= SKIPPABLE_MIN && magic <= SKIPPABLE_MAX) {
        if (input.length - pos < 8) throw new Lz4Error('truncated skippable frame');
        pos += 8 + input.readUInt32LE(pos + 4);
        continue;
      }
      if (magic !== FRAME_MAGIC) {
        // trailing bytes after a complete frame: the reader stops (python-lz4 raises only when nothing was decoded)
        if (pos > 0) break;
        throw new Lz4Error('not an LZ4 frame');
      }
      pos = frame(input, pos + 4, out);
    }
  } catch (err) {
    if (err instanceof Lz4Error && err.limit) {
      return { data: out.buf.subarray(0, out.len), cut: `lz4 content is larger than ${cap} bytes (size or ratio limit); only its first ${out.len} bytes were analysed` };
    }
    return { problem: `malformed lz4 frame: ${err instanceof Error ? err.message : String(err)}`, limit: false };
  }
  return { data: out.buf.subarray(0, out.len) };
}

/** One frame from just after its magic; returns the position after it. */
function frame(input: Buffer, start: number, out: Output): number {
  let pos = start;
  const need = (n: number) => {
    if (pos + n > input.length) throw new Lz4Error('truncated frame');
  };
  need(2);
  const flg = input[pos]!;
  const bd = input[pos + 1]!;
  if (flg >> 6 !== 1) throw new Lz4Error(`unsupported frame version ${flg >> 6}`);
  const blockChecksum = (flg & 0x10) !== 0;
  const contentSize = (flg & 0x08) !== 0;
  const contentChecksum = (flg & 0x04) !== 0;
  const dictId = (flg & 0x01) !== 0;
  const maxBlock = [0, 0, 0, 0, 64 << 10, 256 << 10, 1 << 20, 4 << 20][(bd >> 4) & 7]!;
  if (maxBlock === 0) throw new Lz4Error('bad block maximum size');
  pos += 2 + (contentSize ? 8 : 0) + (dictId ? 4 : 0) + 1; // descriptor, optional fields, header checksum
  need(0);
  for (;;) {
    need(4);
    const word = input.readUInt32LE(pos);
    pos += 4;
    if (word === 0) break; // end mark
    const size = word & 0x7fffffff;
    if (size > maxBlock) throw new Lz4Error(`block of ${size} bytes over the frame's ${maxBlock}-byte maximum`);
    need(size + (blockChecksum ? 4 : 0));
    const block = input.subarray(pos, pos + size);
    if (word & 0x80000000) {
      if (!out.reserve(size)) throw new Lz4Error('output bound', true);
      block.copy(out.buf, out.len);
      out.len += size;
    } else {
      decodeBlock(block, out);
    }
    pos += size + (blockChecksum ? 4 : 0);
  }
  if (contentChecksum) {
    need(4);
    pos += 4;
  }
  return pos;
}

/** One LZ4 block: sequences of literals and back-references into the output so far. */
function decodeBlock(block: Buffer, out: Output): void {
  let i = 0;
  const length = (base: number): number => {
    let n = base;
    if (base === 15) {
      for (;;) {
        if (i >= block.length) throw new Lz4Error('truncated length');
        const b = block[i++]!;
        n += b;
        if (b !== 255) break;
      }
    }
    return n;
  };
  while (i < block.length) {
    const token = block[i++]!;
    const literals = length(token >> 4);
    if (i + literals > block.length) throw new Lz4Error('literals past the end of the block');
    if (!out.reserve(literals)) throw new Lz4Error('output bound', true);
    block.copy(out.buf, out.len, i, i + literals);
    out.len += literals;
    i += literals;
    if (i === block.length) return; // the last sequence has literals only
    if (i + 2 > block.length) throw new Lz4Error('truncated match offset');
    const offset = block.readUInt16LE(i);
    i += 2;
    if (offset === 0 || offset > out.len) throw new Lz4Error(`match offset ${offset} outside the output`);
    const match = length(token & 15) + 4;
    if (!out.reserve(match)) throw new Lz4Error('output bound', true);
    let from = out.len - offset;
    // byte by byte where source and destination overlap (offset < match repeats a pattern)
    if (offset >= match) out.buf.copy(out.buf, out.len, from, from + match);
    else for (let k = 0; k < match; k++) out.buf[out.len + k] = out.buf[from++]!;
    out.len += match;
  }
}
