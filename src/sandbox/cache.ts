import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { LtrackError } from '../core/errors.js';
import { ROOTFS_PARENT, recipeDigest, rootfsFinished, rootfsPath } from './recipe.js';

/**
 * The sandbox image as one tarball a CI cache can keep (actions/cache keyed by the recipe digest):
 * the finished rootfs of the current recipe, from which `ensureImage` makes the docker image in
 * seconds. Import refuses a tarball of another recipe, and extracts beside the final folder before
 * one rename, so a cut-off import never passes for a built rootfs.
 */
function tar(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('tar', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      if (out.length < 4096) out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 || (code === null && out) ? resolve(out) : reject(new Error(err.trim() || `tar exited ${code}`))));
  });
}

export async function exportSandbox(file: string): Promise<{ digest: string }> {
  const digest = await recipeDigest();
  const rootfs = rootfsPath(digest);
  if (!(await rootfsFinished(rootfs))) throw new LtrackError('sandbox_failed', `no built sandbox for recipe ${digest}: run ltrack sandbox build first`);
  const tmp = `${file}.tmp-${randomBytes(4).toString('hex')}`;
  try {
    await tar(['-C', ROOTFS_PARENT, '--numeric-owner', '--xattrs', '-cf', tmp, basename(rootfs)]);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new LtrackError('sandbox_failed', `cannot write the sandbox tarball: ${(err as Error).message}`, { file, cause: err });
  }
  return { digest };
}

/** Restores the current recipe's rootfs from a tarball (a no-op when it is already there). */
export async function importSandbox(file: string): Promise<{ digest: string; restored: boolean }> {
  const digest = await recipeDigest();
  const want = basename(rootfsPath(digest));
  let first: string;
  try {
    first = (await tar(['-tf', file])).split('\n')[0]!.replace(/\/$/, '');
  } catch (err) {
    throw new LtrackError('bad_input', `not a sandbox tarball: ${(err as Error).message}`, { file, cause: err });
  }
  if (first.split('/')[0] !== want) throw new LtrackError('bad_input', `holds ${first.split('/')[0]}, this checkout's recipe needs ${want}; build it with ltrack sandbox build`, { file });
  if (await rootfsFinished(rootfsPath(digest))) return { digest, restored: false };
  const staging = join(ROOTFS_PARENT, `.import-${randomBytes(4).toString('hex')}`);
  await mkdir(staging, { recursive: true, mode: 0o700 });
  try {
    await tar(['-C', staging, '--numeric-owner', '--xattrs', '-xf', file, want]);
    if (!(await rootfsFinished(join(staging, want)))) throw new LtrackError('bad_input', 'the tarball holds an unfinished rootfs', { file });
    await rm(rootfsPath(digest), { recursive: true, force: true }); // a half-built folder of an earlier attempt
    await rename(join(staging, want), rootfsPath(digest));
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return { digest, restored: true };
}
