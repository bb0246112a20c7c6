import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { chmod, link, lstat, mkdir, readdir, rm, stat, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, sep } from 'node:path';
import { LtrackError, wrapError } from '../core/errors.js';
import { ownerAlive } from '../core/owner.js';
import { copyHashed } from './copy.js';
import { mountable, mountInPlace, unmountUnder, type MountedFile } from './mount-in-place.js';
import { enumerateCandidate, type Candidate, type CandidateFile, type SkippedFile } from './enumerate.js';
import type { Progress } from '../core/progress.js';
import type { FileIdentity } from './in-place.js';
import { humanBytes } from '../core/units.js';

/** A candidate file as staged: the copy that is hashed, scanned and mounted into the sandbox. */
export interface CopiedFile extends CandidateFile {
  staged: string;
  sha256: string;
  size: number;
  inPlace?: never;
}

/**
 * A candidate file read where it lies, hashed as it is analysed: `staged` is the user's file
 * itself (src/intake/in-place.ts) or a read-only bind mount of it in the staging area
 * (src/intake/mount-in-place.ts), and `inPlace` what it was when listed or mounted.
 */
export interface InPlaceFile extends CandidateFile {
  staged: string;
  inPlace: FileIdentity;
}

export type StagedFile = CopiedFile | InPlaceFile;

interface StagedCandidate<F extends StagedFile> {
  given: string;
  folder: boolean;
  /** The staged folder (for a folder candidate) or the folder holding the single staged file; read in place, the user's own. */
  dir: string;
  files: F[];
  skipped: SkippedFile[];
}

/** The candidates as the analysis reads them: private copies (stageCandidates) or the user's files pinned (listInPlace). */
export interface Staging<F extends StagedFile = StagedFile> {
  candidates: StagedCandidate<F>[];
  /** Every staged file of every candidate, in order. */
  files: F[];
  skipped: SkippedFile[];
  /**
   * Throws when a file mounted in place is no longer what was analysed: called once the sandbox has
   * run, so the bytes it loaded are the bytes hashed. (The analysis checks each file it reads itself.)
   */
  assertUnchanged(): void;
  /** Removes the staging area; safe to call more than once. */
  cleanup(): Promise<void>;
}

/**
 * Where staging areas live: on the disk that holds the sandbox rootfs (a multi-GB model in a
 * tmpfs /tmp would sit in memory), root-owned, mode 0711 — nobody else can list or write it. Not
 * 0700: the bwrap driver drops to uid 65534 before it mounts, so it must traverse to a staged file
 * it knows the name of (and its /proc/self/fd is then root-owned, so --ro-bind-fd cannot help).
 */
export function stageBase(): string {
  return process.env.LTRACK_STAGE_DIR ?? '/var/lib/ltrack/stage';
}

/** True for a path inside some staging area of this host (the sandbox drivers mount those as they are). */
export function isStaged(path: string): boolean {
  const base = stageBase();
  return path.startsWith(base.endsWith(sep) ? base : base + sep);
}

interface StageOptions {
  maxFiles: number;
  onProgress?: Progress;
  listable?: boolean;
  signal?: AbortSignal;
}

const RUN_NAME = /^(\d+)-[0-9a-f]{16}$/;

/**
 * Copies every candidate once into a fresh private staging area, hashing while copying; what is
 * scanned, reported and loaded is the copy, so rewriting the user's file after this point changes
 * nothing that is vetted. With `mountLarge`, a large file is instead bind-mounted read-only from
 * the descriptor that opened it, and held to its identity (src/intake/mount-in-place.ts). Every
 * entry is listed first (a FIFO or device anywhere is exit 2 before a single byte is read); the
 * user's files are only read. The caller must call cleanup() on every path; a process killed
 * before it could is swept by the next staging.
 */
export async function stageCandidates(paths: string[], opts: StageOptions & { mountLarge?: false }): Promise<Staging<CopiedFile>>;
export async function stageCandidates(paths: string[], opts: StageOptions & { mountLarge: boolean }): Promise<Staging>;
export async function stageCandidates(paths: string[], opts: StageOptions & { mountLarge?: boolean }): Promise<Staging> {
  // Candidates' folders can be traversed, not listed, by the sandbox's uid (it knows each name it
  // loads); a wheelhouse must be listable, because pip's --find-links reads the folder.
  const folderMode = opts.listable ? 0o755 : 0o711;
  const listed: Candidate[] = [];
  for (const p of paths) listed.push(await enumerateCandidate(p, opts.maxFiles));
  const dir = await makeStagingDir();
  // A signal is the caller's to handle (the CLI aborts the vet, whose clean-up calls cleanup());
  // a process that exits without it still removes the area, and one killed outright leaves it to
  // the next staging's sweep.
  const mounts: MountedFile[] = [];
  const remove = () => {
    unmountUnder(dir);
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', remove);
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    process.off('exit', remove);
    for (const m of mounts) await m.release().catch(() => undefined);
    unmountUnder(dir); // what a failed release left: a mount point cannot be removed
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const totalBytes = await ensureRoom(dir, listed, opts.mountLarge === true);
    const candidates: StagedCandidate<StagedFile>[] = [];
    // One copy per source inode: links to the same blob share it (hard link inside the staging area).
    const bySource = new Map<string, StagedFile>();
    let done = 0;
    let bytesDone = 0;
    const total = listed.reduce((n, c) => n + c.files.length, 0);
    const counted = (f: CandidateFile) => `${f.path} (${done}/${total} files, ${humanBytes(bytesDone)} of ${humanBytes(totalBytes)} hashed)`;
    opts.onProgress?.(`staging ${total} file${total === 1 ? '' : 's'} (${humanBytes(totalBytes)})`);
    for (const [i, c] of listed.entries()) {
      const cdir = join(dir, `c${i}`);
      await mkdir(cdir, { mode: folderMode });
      const files: StagedFile[] = [];
      for (const f of c.files) {
        opts.signal?.throwIfAborted();
        done++;
        opts.onProgress?.(counted(f), true);
        const staged = join(cdir, f.rel);
        await mkdir(dirname(staged), { recursive: true, mode: folderMode });
        const twin = bySource.get(f.source);
        if (twin && !twin.inPlace) {
          await link(twin.staged, staged);
          files.push({ ...f, staged, sha256: twin.sha256, size: twin.size });
          continue;
        }
        const mounted = opts.mountLarge ? await mountInPlace(f.source, staged, f.path) : undefined;
        if (mounted) {
          mounts.push(mounted);
          bytesDone += Number(mounted.identity.size);
          const s: InPlaceFile = { ...f, staged, inPlace: mounted.identity };
          bySource.set(f.source, s);
          files.push(s);
          continue;
        }
        const copied = await copyHashed(f.source, staged, f.path, {
          onBytes: (n) => {
            bytesDone += n;
            opts.onProgress?.(counted(f), true);
          },
        });
        await chmod(staged, 0o444);
        const s: CopiedFile = { ...f, staged, sha256: copied.sha256, size: copied.size };
        bySource.set(f.source, s);
        files.push(s);
      }
      candidates.push({ given: c.given, folder: c.folder, dir: cdir, files, skipped: c.skipped });
    }
    const assertUnchanged = () => {
      for (const m of mounts) m.assertUnchanged();
    };
    return { candidates, files: candidates.flatMap((c) => c.files), skipped: candidates.flatMap((c) => c.skipped), assertUnchanged, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** A fresh private folder in the staging area (stale ones of dead processes swept first). */
export async function makeStagingDir(): Promise<string> {
  let base = stageBase();
  try {
    await mkdir(base, { recursive: true, mode: 0o711 });
  } catch (err) {
    // Not root and no LTRACK_STAGE_DIR: a private folder under the temp dir serves the same purpose.
    if ((err as NodeJS.ErrnoException).code !== 'EACCES' || process.env.LTRACK_STAGE_DIR) throw wrapError(err, 'sandbox_failed', 'cannot create the staging area', base);
    base = join(tmpdir(), `ltrack-stage-${process.getuid?.() ?? 0}`);
    await mkdir(base, { recursive: true, mode: 0o711 });
  }
  const s = await lstat(base);
  if (!s.isDirectory() || s.uid !== (process.getuid?.() ?? s.uid)) throw new LtrackError('sandbox_failed', 'the staging area is not a folder owned by this user', { file: base });
  if ((s.mode & 0o777) !== 0o711) await chmod(base, 0o711);
  await sweepStale(base);
  const dir = join(base, `${process.pid}-${randomBytes(8).toString('hex')}`);
  await mkdir(dir, { mode: 0o711 });
  return dir;
}

/** Staging areas of ltrack processes that no longer exist (killed before their cleanup ran). */
async function sweepStale(base: string): Promise<void> {
  for (const name of await readdir(base).catch(() => [] as string[])) {
    const m = RUN_NAME.exec(name);
    if (!m || ownerAlive(Number(m[1]))) continue;
    unmountUnder(join(base, name));
    await rm(join(base, name), { recursive: true, force: true }).catch(() => undefined);
  }
}

/**
 * A copy that runs out of disk half-way would be a confusing failure: say so up front. Checks the
 * staging file system has room for every distinct file that will be copied (not those that will
 * be mounted in place); returns how many bytes the candidates hold.
 */
async function ensureRoom(dir: string, listed: Candidate[], mountLarge: boolean): Promise<number> {
  const seen = new Set<string>();
  let need = 0;
  let total = 0;
  for (const c of listed) {
    for (const f of c.files) {
      if (seen.has(f.source)) continue;
      seen.add(f.source);
      const s = await stat(f.source).catch(() => ({ size: 0, mode: 0 }));
      total += s.size;
      if (!(mountLarge && mountable(s))) need += s.size;
    }
  }
  const fs = await statfs(dir);
  const free = fs.bavail * fs.bsize;
  if (need > free) {
    throw new LtrackError('sandbox_failed', `staging the candidate needs ${need} bytes, ${free} are free; set LTRACK_STAGE_DIR to a larger file system`, { file: dir });
  }
  return total;
}
