import { spawn } from 'node:child_process';
import { closeSync, createReadStream, openSync, rmSync, writeSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable, type Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createInflate } from 'node:zlib';
import { FileBytes, FileHandle, type Bytes } from '../formats/bytes.js';
import { zfileDataOffset } from '../formats/joblib.js';
import type { Limits } from '../formats/limits.js';
import { sniff } from '../formats/sniff.js';
import { decoderError, externalDecoder, type Compression } from '../formats/unpack.js';
import { makeStagingDir } from '../intake/stage.js';
import { wrapError } from '../core/errors.js';

/**
 * A whole file that is one compressed stream too large to unpack in memory — a joblib dump made
 * with compress=3 is a zlib stream of the pickle, often hundreds of MB — is unpacked to a private
 * spill file first, in bounded memory, and its content analysed from there like any large file.
 * Without it such a file could only be a limit finding. The spill is bounded like an in-memory
 * unpack (the compression-ratio and file-size limits) and by half the free space where it is
 * written; it lives in the staging area (root-owned) and is removed once the file is analysed.
 * gzip and zlib are node:zlib streams; bzip2, xz and legacy .lzma are Debian's decoders reading the
 * file itself, as the in-memory path (src/formats/unpack.ts) runs them.
 */
export type Spilled = { kind: Compression; bytes: FileBytes; cut?: string; remove(): void } | { kind: Compression; problem: string; limit: boolean; remove(): void };

/** What is unpacked to a spill file: lz4 has no streaming decoder here (src/formats/lz4.ts reads frames in memory), so it keeps the in-memory bound. */
type Spillable = Exclude<Compression, 'lz4'>;

/** Unpacks `bytes` (the whole file behind `fd`) when it is a compressed stream over the in-memory limit; else undefined. */
export async function spillLargeStream(bytes: Bytes, fd: number, limits: Limits): Promise<Spilled | undefined> {
  if (bytes.size <= limits.maxInMemoryBytes) return undefined;
  const sniffed = sniff(bytes);
  const kind: Spillable | undefined =
    sniffed === 'joblib-zfile' ? 'zlib' : sniffed === 'gzip' || sniffed === 'zlib' || sniffed === 'bz2' || sniffed === 'xz' || sniffed === 'lzma' ? sniffed : undefined;
  if (!kind) return undefined;
  const start = sniffed === 'joblib-zfile' ? zfileDataOffset(bytes.read(0, 32)) : 0;
  const dir = await makeStagingDir();
  const remove = () => rmSync(dir, { recursive: true, force: true });
  try {
    const fs = await statfs(dir);
    const free = fs.bavail * fs.bsize;
    const cap = Math.min(limits.maxFileBytes, limits.maxCompressionRatio * (bytes.size - start), Math.floor(free / 2));
    const path = join(dir, 'content');
    const out = openSync(path, 'wx', 0o600);
    const sink = new BoundedFile(out, cap);
    try {
      const decoder = decoded(kind, fd, start);
      decoder.exited.catch(() => undefined); // awaited below; a pipeline failing first must not leave it unhandled
      await Promise.all([pipeline([...decoder.streams, sink]), decoder.exited]).catch((err: unknown) => {
        decoder.stop();
        if (!sink.full) throw err; // the bound stopped the decoder: what was written is analysed
      });
    } catch (err) {
      closeSync(out);
      // the spill file could not be written (a full disk): no verdict on content nobody read
      if (sink.failed) throw wrapError(sink.failed, 'internal', 'cannot write the unpacked content to the staging area', path);
      const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
      return { kind, problem: `malformed ${kind} stream: ${message}`, limit: false, remove };
    }
    closeSync(out);
    const handle = new FileHandle(path);
    const cut = sink.full ? `${kind} content is larger than ${cap} bytes (size, ratio or free-space limit); only its first ${sink.written} bytes were analysed` : undefined;
    const removeAll = () => {
      handle.close();
      remove();
    };
    return { kind, bytes: new FileBytes(handle, 0, sink.written), ...(cut ? { cut } : {}), remove: removeAll };
  } catch (err) {
    remove();
    throw err;
  }
}

/**
 * The streams that decode the stream at `start` in the file behind `fd`. They read through a
 * descriptor of their own on the same inode (/proc/self/fd reopens the open file, not its path),
 * which the stream or the decoder closes: the caller's stays open, its offset untouched.
 */
function decoded(kind: Spillable, fd: number, start: number): { streams: (Readable | Transform)[]; exited: Promise<void>; stop(): void } {
  const own = openSync(`/proc/self/fd/${fd}`, 'r');
  if (kind === 'gzip' || kind === 'zlib') {
    const streams = [createReadStream('', { fd: own, start, highWaterMark: 256 << 10 }), kind === 'gzip' ? createGunzip({ chunkSize: 256 << 10 }) : createInflate({ chunkSize: 256 << 10 })];
    return { streams, exited: Promise.resolve(), stop: () => undefined };
  }
  // bzip2 and xz read the file themselves from its first byte (these streams are whole files)
  const [tool, args] = externalDecoder(kind);
  let child;
  try {
    child = spawn(tool, args, { stdio: [own, 'pipe', 'pipe'], env: {} });
  } finally {
    closeSync(own); // the child has its copy
  }
  const stdout = child.stdout!;
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  // Only a clean exit is the whole content: a decoder that fails says why on stderr, and one killed
  // by anyone (the kernel's OOM killer among them) gave a prefix. The bound's own stop is the
  // caller's to recognise (it knows the sink is full).
  const exited = new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(signal ? `${tool} was killed (${signal})` : decoderError(stderr, code)));
    });
  });
  return { streams: [stdout], exited, stop: () => child.kill() };
}

/** Writes into `fd` up to `cap` bytes, then fails the pipeline (which stops the decoder) with `full` set. */
class BoundedFile extends Writable {
  written = 0;
  full = false;
  /** A write that failed (not the decoder's fault). */
  failed: Error | undefined;
  constructor(
    private readonly fd: number,
    private readonly cap: number,
  ) {
    super();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    const room = this.cap - this.written;
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    try {
      for (let off = 0; off < part.length;) off += writeSync(this.fd, part, off, part.length - off, this.written + off);
    } catch (err) {
      this.failed = err as Error;
      done(this.failed);
      return;
    }
    this.written += part.length;
    if (part.length < chunk.length) {
      this.full = true;
      done(new Error('spill bound reached'));
      return;
    }
    done();
  }
}
