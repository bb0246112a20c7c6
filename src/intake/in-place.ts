import { closeSync, constants, fstatSync, fsyncSync, openSync, readSync, statSync, type BigIntStats, type Stats } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { LtrackError, wrapError } from '../core/errors.js';
import { sha256, sha256Hasher } from '../core/sha256.js';
import { humanBytes } from '../core/units.js';
import type { Progress } from '../core/progress.js';
import { enumerateCandidate, notRegular, type Candidate, type CandidateFile } from './enumerate.js';
import type { InPlaceFile, Staging } from './stage.js';

/**
 * Reading a candidate where it lies instead of from a private copy: for a static-only vet that
 * signs nothing, where the copy (a write of every byte) cost more than the analysis itself. The
 * copy is what makes the bytes vetted the bytes that run; with nothing run, what must hold is that
 * the bytes hashed are the bytes analysed. So each file is pinned: its identity (device, inode,
 * size, and the kernel's mtime and ctime, which every write, truncate or rename-over moves and no
 * user can set back) is taken when the candidate is listed, checked when the file is opened, and
 * checked again on the same descriptor once its analysis is done; any difference is an error
 * naming the file, never a report. A small file is read once into memory and both hashed and
 * analysed from that buffer. A larger one is read twice (analysis and digest), so a writer that
 * already held a shared writable mapping of it must be seen too: it is synced when opened, which
 * write-protects its pages, so that writer's next store faults and moves the timestamps (the
 * kernel gives a timestamp that was just read a fine-grained successor, so two changes within one
 * clock tick still differ).
 */

/** What the kernel says a file is; two equal identities mean the same inode with no write between them. */
export interface FileIdentity {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

export const identityOf = (s: BigIntStats): FileIdentity => ({ dev: s.dev, ino: s.ino, size: s.size, mtimeNs: s.mtimeNs, ctimeNs: s.ctimeNs });
export const sameIdentity = (a: FileIdentity, b: FileIdentity) => a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;

export function changed(file: string): LtrackError {
  return new LtrackError('bad_input', 'changed while it was being vetted; nothing was reported (vet it again once nothing writes to it)', { file });
}

/**
 * Lists the candidates and pins every file, reading no content: the Staging a vet analyses when
 * it reads in place. Nothing is created on disk, so cleanup has nothing to remove.
 */
export async function listInPlace(paths: string[], opts: { maxFiles: number; onProgress?: Progress }): Promise<Staging<InPlaceFile>> {
  const listed: Candidate[] = [];
  for (const p of paths) listed.push(await enumerateCandidate(p, opts.maxFiles));
  let bytes = 0;
  const candidates = listed.map((c) => {
    const files = c.files.map((f): InPlaceFile => {
      const s = statPinned(f);
      bytes += Number(s.size);
      return { ...f, staged: f.source, inPlace: s };
    });
    return { given: c.given, folder: c.folder, dir: c.root, files, skipped: c.skipped };
  });
  const files = candidates.flatMap((c) => c.files);
  opts.onProgress?.(`reading ${files.length} file${files.length === 1 ? '' : 's'} in place (${humanBytes(bytes)})`);
  return { candidates, files, skipped: candidates.flatMap((c) => c.skipped), assertUnchanged: () => undefined, cleanup: () => Promise.resolve() };
}

function statPinned(f: CandidateFile): FileIdentity {
  let s: BigIntStats;
  try {
    s = statSync(f.source, { bigint: true });
  } catch (err) {
    throw wrapError(err, 'bad_input', 'cannot read', f.path);
  }
  if (!s.isFile()) throw notRegular(f.path, s as unknown as Stats);
  return identityOf(s);
}

/** Files up to this size are read whole: hashed and analysed from one buffer. */
export const WHOLE_FILE = 1 << 20;
/** Above this, the digest is taken on a worker thread while the analysis runs on this one. */
const HASH_ON_WORKER = 64 << 20;

/**
 * One user file opened for analysis in place. Opened O_NOFOLLOW (its path was resolved when
 * listed: a symlink there now is a swap) and O_NONBLOCK (a FIFO raced in cannot block the open),
 * and refused unless it is still the inode, size and timestamps it was listed with.
 */
export class PinnedFile {
  readonly fd: number;
  readonly size: number;
  /** The whole content, for a file of at most WHOLE_FILE bytes: what is hashed and analysed. */
  readonly whole: Buffer | undefined;
  private readonly digest: Promise<string> | string;

  constructor(private readonly f: InPlaceFile) {
    try {
      this.fd = openSync(f.staged, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw changed(f.path);
      throw wrapError(err, 'bad_input', 'cannot read', f.path);
    }
    try {
      // one buffer is both hashed and analysed: only a file read twice needs its pages protected
      if (f.inPlace.size > WHOLE_FILE) writeBack(this.fd);
      this.assertUnchanged();
      this.size = Number(f.inPlace.size);
      if (this.size <= WHOLE_FILE) {
        this.whole = readAll(this.fd, this.size, f.path);
        this.digest = sha256(this.whole);
      } else {
        this.whole = undefined;
        this.digest = this.size > HASH_ON_WORKER ? hashOnWorker(this.fd, this.size, f.path) : hashFd(this.fd, this.size, f.path);
        // awaited after the analysis; a failure before then must not count as unhandled
        if (typeof this.digest !== 'string') this.digest.catch(() => undefined);
      }
    } catch (err) {
      closeSync(this.fd);
      throw err;
    }
  }

  /** The file's sha256 — of the bytes analysed, once assertUnchanged has passed after the analysis. */
  async sha256(): Promise<string> {
    return this.digest;
  }

  /** Throws when the open file is no longer what was listed: another inode, size, or a write since. */
  assertUnchanged(): void {
    const s = fstatSync(this.fd, { bigint: true });
    if (!s.isFile()) throw notRegular(this.f.path, s as unknown as Stats);
    if (!sameIdentity(identityOf(s), this.f.inPlace)) throw changed(this.f.path);
  }

  /** Waits for the digest (a worker may still be reading the descriptor), then closes it. */
  async close(): Promise<void> {
    await Promise.resolve(this.digest).catch(() => undefined);
    closeSync(this.fd);
  }
}

/**
 * fsync, so that every page of the file is clean and write-protected before its identity is
 * compared and its bytes read: a store through a shared writable mapping made before the vet then
 * faults and moves the file's timestamps like any write, and the check after the analysis sees it.
 * A file system that cannot sync (EINVAL) keeps only the timestamp checks.
 */
function writeBack(fd: number): void {
  try {
    fsyncSync(fd);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EINVAL' && (err as NodeJS.ErrnoException).code !== 'ENOTSUP') throw err;
  }
}

function readAll(fd: number, size: number, file: string): Buffer {
  const buf = Buffer.allocUnsafe(size);
  let got = 0;
  while (got < size) {
    const n = readSync(fd, buf, got, size - got, got);
    if (n === 0) throw changed(file);
    got += n;
  }
  return buf;
}

const CHUNK = 256 << 10;
let chunk: Buffer | undefined;

/** sha256 of exactly `size` bytes of the descriptor, on this thread, through one reused buffer. */
function hashFd(fd: number, size: number, file: string): string {
  chunk ??= Buffer.allocUnsafe(CHUNK);
  const h = sha256Hasher();
  for (let pos = 0; pos < size;) {
    const n = readSync(fd, chunk, 0, Math.min(CHUNK, size - pos), pos);
    if (n === 0) throw changed(file);
    h.update(chunk.subarray(0, n));
    pos += n;
  }
  return h.digest('hex');
}

// A worker thread shares this process's descriptors: it reads the pinned fd by positional reads,
// which move no offset the analysis depends on. (Not manifest/hash.ts's worker: it streams, with a
// fresh buffer and a progress message per MiB — +35 MB peak RSS and +0.4 s on a 1 GiB static vet.) Plain JavaScript (a worker evaluates it as
// CommonJS); it hashes with node:crypto as core/sha256.ts does.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { readSync } = require('node:fs');
const buf = Buffer.allocUnsafe(${CHUNK});
parentPort.on('message', ({ id, fd, size }) => {
  try {
    const h = createHash('sha256');
    let pos = 0;
    while (pos < size) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, size - pos), pos);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
      pos += n;
    }
    parentPort.postMessage({ id, sha256: h.digest('hex'), size: pos });
  } catch (err) {
    parentPort.postMessage({ id, error: String((err && err.message) || err) });
  }
});
`;

let worker: Worker | undefined;
let nextId = 0;
const waiting = new Map<number, { resolve: (s: string) => void; reject: (e: unknown) => void; size: number; file: string }>();

/** sha256 of the descriptor's `size` bytes on the one hashing worker; it keeps the process alive only while it has work. */
function hashOnWorker(fd: number, size: number, file: string): Promise<string> {
  if (!worker) {
    // execArgv []: evaluated as CommonJS whatever flags (--input-type=module) this process was given
    worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [], resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 8 } });
    worker.on('message', (m: { id: number; sha256?: string; size?: number; error?: string }) => {
      const job = waiting.get(m.id);
      if (!job) return;
      waiting.delete(m.id);
      if (waiting.size === 0) worker?.unref();
      if (m.error !== undefined) job.reject(new LtrackError('bad_input', `cannot read for hashing: ${m.error}`, { file: job.file }));
      else if (m.size !== job.size) job.reject(changed(job.file));
      else job.resolve(m.sha256!);
    });
    worker.on('error', (err) => {
      for (const job of waiting.values()) job.reject(wrapError(err, 'internal', 'the hashing worker failed', job.file));
      waiting.clear();
      worker = undefined;
    });
  }
  const id = nextId++;
  worker.ref();
  return new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject, size, file });
    worker!.postMessage({ id, fd, size });
  });
}
