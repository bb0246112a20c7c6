import { spawn } from 'node:child_process';
import { mkdir, open, readdir, readFile, rename, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { LtrackError, wrapError } from '../core/errors.js';
import { docker } from './docker-client.js';
import { aptMirror } from './mirror.js';
import { DONE_MARK, IMAGE_REPO, RECIPE_DIR, ROOTFS_PARENT, imageTag, recipeDigest, rootfsFinished, rootfsPath } from './recipe.js';

export interface ImageInfo {
  tag: string;
  rootfs: string;
  built: boolean;
}

async function dockerHasImage(tag: string): Promise<boolean> {
  try {
    await docker().getImage(tag).inspect();
    return true;
  } catch {
    return false;
  }
}

/** For `ltrack doctor`: what the current recipe needs and what is there; never builds. */
export async function imageStatus(): Promise<{ tag: string; present: boolean; rootfsPresent: boolean }> {
  const digest = await recipeDigest();
  const tag = imageTag(digest);
  return { tag, present: await dockerHasImage(tag), rootfsPresent: await rootfsFinished(rootfsPath(digest)) };
}

/** The rootfs and image of the current recipe, for the drivers; throws when either is missing. */
export async function requireImage(need: 'docker' | 'bwrap'): Promise<{ tag: string; rootfs: string }> {
  const digest = await recipeDigest();
  const tag = imageTag(digest);
  const rootfs = rootfsPath(digest);
  const ok = need === 'docker' ? await dockerHasImage(tag) : await rootfsFinished(rootfs);
  if (!ok) throw new LtrackError('sandbox_failed', `sandbox image ${tag} is not built; run \`ltrack sandbox build\` (or bash scripts/bootstrap)`);
  return { tag, rootfs };
}

/**
 * Builds what the current recipe digest lacks: the rootfs (debootstrap, minutes) and its docker
 * import (seconds). An unchanged recipe with both present is a no-op. Rootfs folders and images of
 * older recipes are removed once the new ones exist, so a recipe change does not pile up gigabytes.
 */
export async function ensureImage(opts: { onProgress?: (m: string) => void } = {}): Promise<ImageInfo> {
  const progress = opts.onProgress ?? (() => undefined);
  const digest = await recipeDigest();
  const tag = imageTag(digest);
  const rootfs = rootfsPath(digest);
  let built = false;
  await mkdir(ROOTFS_PARENT, { recursive: true, mode: 0o755 });
  const release = await buildLock(progress);
  try {
    if (!(await rootfsFinished(rootfs))) {
      await buildRootfs(rootfs, progress);
      built = true;
    }
    if (built || !(await dockerHasImage(tag))) {
      await importRootfs(rootfs, tag, progress);
      built = true;
    }
    if (built) await pruneOld(digest, progress);
  } finally {
    await release();
  }
  return { tag, rootfs, built };
}

async function buildRootfs(rootfs: string, progress: (m: string) => void): Promise<void> {
  const mirror = await aptMirror();
  if (!mirror) throw new LtrackError('sandbox_failed', 'no http(s) Debian mirror for bookworm in /etc/apt/sources.list*');
  const partial = `${rootfs}.partial`;
  await rm(partial, { recursive: true, force: true });
  await rm(`${partial}.debootstrap.log`, { force: true });
  await rm(`${partial}.apt.log`, { force: true });
  progress(`building ${rootfs} from ${mirror}`);
  await runStreaming('bash', [join(RECIPE_DIR, 'build-rootfs.sh'), partial, mirror], progress);
  await (await open(join(partial, DONE_MARK), 'w')).close();
  await rename(partial, rootfs);
}

async function importRootfs(rootfs: string, tag: string, progress: (m: string) => void): Promise<void> {
  progress(`docker import ${rootfs} as ${tag}`);
  const [repo, version] = tag.split(':');
  const tar = spawn('tar', ['-C', rootfs, '--numeric-owner', '--exclude', `./${DONE_MARK}`, '-cf', '-', '.'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tarErr = '';
  tar.stderr.on('data', (d: Buffer) => (tarErr += d.toString()));
  const tarDone = new Promise<number | null>((resolve) => tar.on('close', resolve));
  try {
    const reply = await docker().importImage(tar.stdout, { repo, tag: version });
    await new Promise<void>((resolve, reject) => {
      docker().modem.followProgress(reply, (err: Error | null) => (err ? reject(err) : resolve()));
    });
  } catch (err) {
    tar.kill('SIGKILL');
    throw wrapError(err, 'sandbox_failed', `docker import of ${rootfs} failed`);
  }
  const code = await tarDone;
  if (code !== 0) throw new LtrackError('sandbox_failed', `tar of ${rootfs} failed (${code}): ${tarErr.trim().slice(0, 300)}`);
}

async function pruneOld(digest: string, progress: (m: string) => void): Promise<void> {
  for (const name of await readdir(ROOTFS_PARENT)) {
    if (name.startsWith('rootfs-') && name !== `rootfs-${digest}` && !name.endsWith('.partial')) {
      progress(`removing old ${name}`);
      await rm(join(ROOTFS_PARENT, name), { recursive: true, force: true });
    }
  }
  const images = await docker().listImages({ filters: { reference: [IMAGE_REPO] } });
  for (const image of images) {
    const tags = image.RepoTags ?? [];
    if (tags.length > 0 && tags.every((t) => t !== imageTag(digest))) {
      progress(`removing old image ${tags.join(', ')}`);
      await docker()
        .getImage(image.Id)
        .remove({ force: true })
        .catch(() => undefined); // an image a stopped container still uses stays; harmless
    }
  }
}

/** Runs a build step, passing its `step:` lines to progress; fails with the tail of its stderr. */
function runStreaming(cmd: string, args: string[], progress: (m: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      for (const line of d.toString().split('\n')) if (line.startsWith('step: ')) progress(line.slice(6));
    });
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
    child.on('error', (e) => reject(wrapError(e, 'sandbox_failed', `cannot run ${cmd}`)));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new LtrackError('sandbox_failed', `image build failed (${code}): ${err.trim()}`))));
  });
}

/**
 * Serialises builds (bootstrap and a test may both ask): an exclusive lock file holding the pid;
 * a lock whose pid is gone is stale and taken over.
 */
async function buildLock(progress: (m: string) => void): Promise<() => Promise<void>> {
  const path = join(ROOTFS_PARENT, 'build.lock');
  for (let waited = 0; ; waited++) {
    try {
      const fh = await open(path, 'wx');
      await fh.writeFile(String(process.pid));
      await fh.close();
      return () => unlink(path).catch(() => undefined);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw wrapError(err, 'sandbox_failed', `cannot take ${path}`);
    }
    const holder = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    if (!Number.isInteger(holder) || holder <= 0 || !alive(holder)) {
      await unlink(path).catch(() => undefined);
      continue;
    }
    if (waited === 0) progress(`waiting for the build in process ${holder}`);
    if (waited > 3600) throw new LtrackError('sandbox_failed', `image build lock ${path} held by ${holder} for an hour`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
