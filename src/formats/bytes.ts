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
  slice(start: number, len: number): Bytes {
    return new BufBytes(this.read(start, len));
  }
}

/** An open file descriptor shared by every region cut from it; closed once by its owner. */
export class FileHandle {
  readonly fd: number;
  constructor(readonly path: string) {
    this.fd = openSync(path, 'r');
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
    const start = Math.max(0, Math.min(pos, this.size));
    const n = Math.min(this.size - start, Math.max(0, len));
    const out = Buffer.allocUnsafe(n);
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
 * and occasionally skip a huge one (tensor bytes) without reading it.
 */
export class Cursor {
  private win: Buffer = Buffer.alloc(0);
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
    this.win = this.bytes.read(this.pos, Math.max(n, this.windowBytes));
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
      parts.push(this.win.subarray(i, end));
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
}
