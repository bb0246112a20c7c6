import { closeSync, openSync, readSync } from 'node:fs';

/**
 * Random access to a byte range, whatever holds it: a file region (read on demand, so a 5 GB
 * checkpoint never sits in memory) or a buffer (small files, decompressed members).
 * Reads are synchronous: the parsers are CPU-bound walkers and positional reads are cheap.
 */
export interface Bytes {
  readonly size: number;
  /** Up to `len` bytes from `pos`; shorter only at the end. */
  read(pos: number, len: number): Buffer;
  /**
   * Up to `into.length` bytes from `pos`, in `into` when they must be read (a file) or as a view
   * when they are already in memory: a reader that refills a window reuses one buffer.
   */
  readInto(pos: number, into: Buffer): Buffer;
  /** A view of [start, start+len) of this range. */
  slice(start: number, len: number): Bytes;
}

export class BufBytes implements Bytes {
  constructor(private readonly buf: Buffer) {}
  get size(): number {
    return this.buf.length;
  }
  read(pos: number, len: number): Buffer {
    const start = Math.max(0, Math.min(pos, this.buf.length));
    return this.buf.subarray(start, Math.min(this.buf.length, start + Math.max(0, len)));
  }
  readInto(pos: number, into: Buffer): Buffer {
    return this.read(pos, into.length);
  }
  slice(start: number, len: number): Bytes {
    return new BufBytes(this.read(start, len));
  }
}

/** An open file descriptor shared by every region cut from it; closed once by its owner. */
export class FileHandle {
  readonly fd: number;
  /** Opens `path`, or names a descriptor its owner already holds (and closes). */
  constructor(
    readonly path: string,
    fd?: number,
  ) {
    this.fd = fd ?? openSync(path, 'r');
  }
  close(): void {
    closeSync(this.fd);
  }
}

export class FileBytes implements Bytes {
  constructor(
    private readonly handle: FileHandle,
    private readonly base: number,
    readonly size: number,
  ) {}
  read(pos: number, len: number): Buffer {
    return this.readInto(pos, Buffer.allocUnsafe(Math.min(this.size - Math.max(0, Math.min(pos, this.size)), Math.max(0, len))));
  }
  readInto(pos: number, out: Buffer): Buffer {
    const start = Math.max(0, Math.min(pos, this.size));
    const n = Math.min(this.size - start, out.length);
    let got = 0;
    while (got < n) {
      const r = readSync(this.handle.fd, out, got, n - got, this.base + start + got);
      if (r === 0) break;
      got += r;
    }
    return got === n ? out : out.subarray(0, got);
  }
  slice(start: number, len: number): Bytes {
    const s = Math.max(0, Math.min(start, this.size));
    return new FileBytes(this.handle, this.base + s, Math.max(0, Math.min(len, this.size - s)));
  }
}

/**
 * Sequential reader with a window, for walkers that read many small operands (pickle opcodes)
 * and occasionally skip a huge one (tensor bytes) without reading it. The window's buffer is
 * reused from one refill to the next (a fresh 1 MiB per refill was most of a large scan's
 * memory and garbage): what take() and line() return is valid until the next read; keep a copy.
 */
export class Cursor {
  private win: Buffer = Buffer.alloc(0);
  private buf: Buffer | undefined;
  private winStart = 0;
  pos: number;
  constructor(
    readonly bytes: Bytes,
    start = 0,
    private readonly windowBytes = 1 << 20,
  ) {
    this.pos = start;
  }
  get size(): number {
    return this.bytes.size;
  }
  get remaining(): number {
    return this.bytes.size - this.pos;
  }
  private fill(n: number): void {
    this.winStart = this.pos;
    const want = Math.min(Math.max(n, this.windowBytes), Math.max(0, this.bytes.size - this.pos));
    // bytes already in memory are windowed as views; a take() larger than the window gets a
    // buffer of its own, not kept
    if (this.bytes instanceof BufBytes || want > this.windowBytes) {
      this.win = this.bytes.read(this.pos, want);
      return;
    }
    this.buf ??= Buffer.allocUnsafe(this.windowBytes);
    this.win = this.bytes.readInto(this.pos, this.buf.subarray(0, want));
  }
  /** Next byte, or -1 at the end. */
  byte(): number {
    let i = this.pos - this.winStart;
    if (i < 0 || i >= this.win.length) {
      this.fill(1);
      i = 0;
      if (this.win.length === 0) return -1;
    }
    this.pos++;
    return this.win[i] as number;
  }
  /** Exactly n bytes, or undefined when the range ends first. */
  take(n: number): Buffer | undefined {
    if (n > this.remaining) return undefined;
    let i = this.pos - this.winStart;
    if (i < 0 || i + n > this.win.length) {
      this.fill(n);
      i = 0;
    }
    this.pos += n;
    return this.win.subarray(i, i + n);
  }
  /** Bytes up to and excluding '\n' (consumed), at most max; undefined if no newline in reach. */
  line(max: number): Buffer | undefined {
    const parts: Buffer[] = [];
    let total = 0;
    for (;;) {
      let i = this.pos - this.winStart;
      if (i < 0 || i >= this.win.length) {
        this.fill(1);
        i = 0;
        if (this.win.length === 0) return undefined;
      }
      const nl = this.win.indexOf(10, i);
      const end = nl === -1 ? this.win.length : nl;
      total += end - i;
      if (total > max) return undefined;
      // a part that the next refill would overwrite is copied
      parts.push(nl === -1 ? Buffer.from(this.win.subarray(i, end)) : this.win.subarray(i, end));
      this.pos += end - i;
      if (nl !== -1) {
        this.pos++;
        return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
      }
    }
  }
  skip(n: number): boolean {
    if (n > this.remaining) return false;
    this.pos += n;
    return true;
  }
  /**
   * The next n bytes as a range of the underlying bytes, consumed without reading them: a large
   * operand stays where it is (a file region, or the buffer already in memory) and is analysed in
   * place, by windows, only if something needs it. Undefined when the range ends first.
   */
  view(n: number): Bytes | undefined {
    if (n > this.remaining) return undefined;
    const v = this.bytes.slice(this.pos, n);
    this.pos += n;
    return v;
  }
}
