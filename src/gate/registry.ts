import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, copyFile, cp, link, mkdir, open, readdir, readFile, readlink, rename, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { LtrackError, wrapError } from '../core/errors.js';
import { copyHashed } from '../intake/copy.js';
import { cacheFolder } from './names.js';

/**
 * The registry production loads from: a Hugging Face cache (`HF_HUB_CACHE=REGISTRY
 * HF_HUB_OFFLINE=1`), holding only commits that passed. Per repo, `models--ORG--NAME/`:
 * `blobs/ETAG` (content, named by the Hub's etag: the LFS sha256 or the git blob id),
 * `snapshots/COMMIT/PATH` (relative symlinks into blobs), `refs/REVISION` (the commit). The
 * gate's own state lives under `.ltrack/` (a dot folder, which the Hub's cache tools skip):
 * verdicts, reports and manifests per commit, and one lock per commit so that several gates
 * on shared storage vet each commit once.
 *
 * Promotion is ordered so a crash leaves nothing half visible: blobs first (each written under a
 * temporary name and renamed), then the snapshot folder built aside and renamed into
 * `snapshots/` in one step, then the verdict, then the ref (a temporary file renamed).
 */

/**
 * One file to promote: its path in the snapshot, its etag, where the vetted bytes are and their
 * sha256. A `private` source (the gate's own download, which nothing else can write) is linked;
 * any other (a user's folder) is copied and its copy must hash to the vetted sha256.
 */
export interface PromotedFile {
  path: string;
  etag: string;
  source: string;
  sha256: string;
  private: boolean;
}

/** What the gate decided about one commit, kept so that gating it again is instant. */
export interface VerdictRecord {
  /** Binds the verdict to the rule set and ltrack version that gave it: another key re-vets. */
  key: string;
  repo: string;
  commit: string;
  status: 'pass' | 'block';
  /** For a block: the findings that blocked, one line each (the proxy's X-Error-Message). */
  reasons: string[];
  decidedAt: string;
  /** The report (and for a pass the manifest), relative to the registry. */
  report: string;
  manifest?: string;
}

export function verdictKey(repo: string, commit: string, rulesetDigest: string, toolVersion: string): string {
  return createHash('sha256')
    .update(JSON.stringify([repo, commit, rulesetDigest, toolVersion]))
    .digest('hex');
}

export class Registry {
  constructor(readonly root: string) {}

  repoDir(repo: string): string {
    return join(this.root, cacheFolder(repo));
  }

  snapshotDir(repo: string, commit: string): string {
    return join(this.repoDir(repo), 'snapshots', commit);
  }

  /** The gate's records of one commit: verdict.json, report.json, the manifest. */
  recordDir(repo: string, commit: string): string {
    return join(this.root, '.ltrack', cacheFolder(repo), commit);
  }

  async readVerdict(repo: string, commit: string, key: string): Promise<VerdictRecord | undefined> {
    const text = await readFile(join(this.recordDir(repo, commit), 'verdict.json'), 'utf8').catch(() => undefined);
    if (text === undefined) return undefined;
    try {
      const v = JSON.parse(text) as Partial<VerdictRecord>;
      return v.key === key && (v.status === 'pass' || v.status === 'block') ? (v as VerdictRecord) : undefined;
    } catch {
      return undefined; // a torn or foreign file: vet again
    }
  }

  /** Writes the report (and manifest) and the verdict of a commit, each atomically. */
  async writeRecord(record: Omit<VerdictRecord, 'report' | 'manifest'>, report: string, manifest?: { name: string; text: string }): Promise<VerdictRecord> {
    const dir = this.recordDir(record.repo, record.commit);
    await mkdir(dir, { recursive: true });
    await atomicWrite(join(dir, 'report.json'), report);
    if (manifest) await atomicWrite(join(dir, manifest.name), manifest.text);
    const full: VerdictRecord = { ...record, report: relative(this.root, join(dir, 'report.json')), ...(manifest ? { manifest: relative(this.root, join(dir, manifest.name)) } : {}) };
    await atomicWrite(join(dir, 'verdict.json'), `${JSON.stringify(full, null, 2)}\n`);
    return full;
  }

  /** Makes a vetted commit visible: blobs, then the snapshot (one rename), then `refs/REVISION`. */
  async promote(repo: string, commit: string, revision: string | undefined, files: PromotedFile[]): Promise<string> {
    const repoDir = this.repoDir(repo);
    const blobs = join(repoDir, 'blobs');
    await mkdir(blobs, { recursive: true });
    await mkdir(join(repoDir, 'snapshots'), { recursive: true });
    await mkdir(join(repoDir, 'refs'), { recursive: true }); // the Hub's cache scanners expect it, even empty
    for (const f of files) await putBlob(join(blobs, f.etag), f);
    const final = this.snapshotDir(repo, commit);
    if (await exists(final)) await sameSnapshot(final, files);
    else {
      const building = join(repoDir, `.building-${commit}-${randomBytes(4).toString('hex')}`);
      try {
        for (const f of files) {
          const at = join(building, f.path);
          await mkdir(dirname(at), { recursive: true });
          // relative, as the Hub's clients make them, so the registry can be moved or mounted anywhere
          await symlink(relative(dirname(join(final, f.path)), join(blobs, f.etag)), at);
        }
        await mkdir(building, { recursive: true }); // a commit with no file is still a snapshot
        await rename(building, final).catch((err: unknown) => {
          // another gate promoted the same commit meanwhile: its snapshot is the same content
          const code = (err as NodeJS.ErrnoException).code;
          if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
        });
      } finally {
        await rm(building, { recursive: true, force: true });
      }
    }
    if (revision !== undefined) await this.setRef(repo, revision, commit);
    return final;
  }

  /** Points `refs/REVISION` at a promoted commit (written only when it changes; a commit sha names itself). */
  async setRef(repo: string, revision: string, commit: string): Promise<void> {
    if (revision === commit) return;
    const ref = join(this.repoDir(repo), 'refs', revision);
    if ((await readFile(ref, 'utf8').catch(() => undefined)) === commit) return;
    await atomicWrite(ref, commit);
  }

  /**
   * Takes the commit's lock (a file created exclusively: it works across hosts on shared
   * storage); waits while another holder vets it. A lock whose holder on this host is gone, or
   * older than `staleMs`, is taken over.
   */
  async lock(repo: string, commit: string, opts: { staleMs?: number; pollMs?: number } = {}): Promise<() => Promise<void>> {
    const path = join(this.root, '.ltrack', 'locks', `${cacheFolder(repo)}--${commit}.lock`);
    await mkdir(dirname(path), { recursive: true });
    const staleMs = opts.staleMs ?? 6 * 3600_000;
    const me = `${hostname()} ${process.pid}`;
    for (;;) {
      try {
        const fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
        await fh.writeFile(`${me}\n`);
        await fh.close();
        return () => unlink(path).catch(() => undefined);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw wrapError(err, 'sandbox_failed', 'cannot take the gate lock', path);
      }
      if (await staleLock(path, staleMs)) {
        await unlink(path).catch(() => undefined);
        continue;
      }
      await new Promise((r) => setTimeout(r, opts.pollMs ?? 500));
    }
  }
}

/**
 * A commit already in the registry must hold exactly these files with these etags: a folder named
 * with a Hub commit, or a second source for the same name, cannot put other bytes under it.
 */
async function sameSnapshot(dir: string, files: PromotedFile[]): Promise<void> {
  const present = new Map<string, string>();
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isSymbolicLink()) continue;
    const path = relative(dir, join(e.parentPath, e.name));
    present.set(path, basename(await readlink(join(e.parentPath, e.name))));
  }
  const same = files.length === 0 || (present.size === files.length && files.every((f) => present.get(f.path) === f.etag));
  if (!same) throw new LtrackError('bad_input', 'the registry already holds other files under this commit; nothing was promoted', { file: dir });
}

async function staleLock(path: string, staleMs: number): Promise<boolean> {
  const [text, s] = await Promise.all([readFile(path, 'utf8').catch(() => ''), stat(path).catch(() => undefined)]);
  if (!s) return false; // gone already: the next attempt takes it
  if (Date.now() - s.mtimeMs > staleMs) return true;
  const [host, pid] = text.trim().split(' ');
  if (host !== hostname() || !pid) return false;
  try {
    process.kill(Number(pid), 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** A blob by its etag, under a temporary name, then renamed: exactly the bytes that were vetted. */
async function putBlob(dest: string, f: PromotedFile): Promise<void> {
  if (await exists(dest)) return; // content-addressed: the same etag is the same bytes
  const tmp = `${dest}.incomplete-${randomBytes(4).toString('hex')}`;
  try {
    if (f.private) await link(f.source, tmp).catch(() => copyFile(f.source, tmp, constants.COPYFILE_EXCL));
    else {
      const copied = await copyHashed(f.source, tmp, f.source);
      if (copied.sha256 !== f.sha256) throw new LtrackError('bad_input', `changed since it was vetted (sha256 ${copied.sha256}, vetted ${f.sha256}); nothing was promoted`, { file: f.source });
    }
    await chmod(tmp, 0o444);
    await rename(tmp, dest);
  } catch (err) {
    await rm(tmp, { force: true });
    throw wrapError(err, 'sandbox_failed', 'cannot write a blob into the registry', dest);
  }
}

export async function atomicWrite(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${randomBytes(4).toString('hex')}`;
  await writeFile(tmp, text, { mode: 0o644 });
  await rename(tmp, path);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Moves a blocked snapshot and its report to the quarantine: `QUARANTINE/models--ORG--NAME/COMMIT/`. */
export async function quarantine(dir: string, repo: string, commit: string, files: string, report: string): Promise<string> {
  const dest = join(dir, cacheFolder(repo), commit);
  await rm(dest, { recursive: true, force: true });
  await mkdir(dest, { recursive: true, mode: 0o700 });
  try {
    await rename(files, join(dest, 'files'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw new LtrackError('sandbox_failed', `cannot move the snapshot into quarantine: ${(err as Error).message}`, { file: dest });
    await cp(files, join(dest, 'files'), { recursive: true, verbatimSymlinks: true });
    await rm(files, { recursive: true, force: true });
  }
  await writeFile(join(dest, 'report.json'), report);
  return dest;
}
