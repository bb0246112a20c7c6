import { execFile, execFileSync } from 'node:child_process';
import { closeSync, constants, fstatSync, fsyncSync, openSync, readFileSync, statSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { changed, identityOf, sameIdentity, type FileIdentity } from './in-place.js';

/**
 * A large candidate file of a vet is not copied into the staging area: the file the vet opened is
 * itself bind-mounted, read-only, at its staging path. The copy of a 5 GiB checkpoint cost more
 * than loading it (every byte read and written, and past the kernel's dirty limit, throttled to
 * the disk); this costs two mount(8) calls.
 *
 * What the copy guaranteed — the bytes analysed are the bytes the sandbox loads — holds because:
 * - the mount is made from the open descriptor (`/proc/<pid>/fd/<n>`, never canonicalised to a
 *   path), so it is the inode that was opened; a path swapped meanwhile leaves that inode
 *   unlinked and the mount fails, and the mounted inode is checked against the descriptor's;
 * - the file's identity (inode, size, mtime, ctime) is taken after an fsync, which writes back
 *   and write-protects every page, so any later store — through write(2) or through a shared
 *   writable mapping that existed before the vet — faults and moves the timestamps; and
 * - that identity is checked when the analysis opens the file and again after the sandbox ran
 *   (Staging.assertUnchanged): any difference is an error naming the file, never a report.
 * The sandbox's mount is read-only, so the candidate cannot write it either.
 *
 * Only for root (the mount needs it), and only for a file the sandbox's uid may read (mode o+r):
 * the mount keeps the user's owner and mode. Otherwise, or when any step fails, the file is copied.
 */

/** Files of at least this size are mounted in place; smaller ones are copied (the copy is cheaper than two mount calls). */
export const MOUNT_IN_PLACE = 64 << 20;

const run = promisify(execFile);

/** True when a file of this stat would be mounted rather than copied (the staging area needs no room for it). */
export function mountable(s: { size: number; mode: number }): boolean {
  return process.getuid?.() === 0 && s.size >= MOUNT_IN_PLACE && (s.mode & 0o004) !== 0;
}

export interface MountedFile {
  /** What the file was when mounted: the analysis and the end of the vet hold it to this. */
  identity: FileIdentity;
  /** Throws when the user's file is no longer that: a write, truncate or timestamp change since it was mounted. */
  assertUnchanged(): void;
  /** Unmounts and closes; safe to call more than once. */
  release(): Promise<void>;
}

/**
 * Mounts the user's file `source` read-only at `at` (a path in a fresh staging folder, created
 * here). Returns undefined, having left nothing behind, when the file must be copied instead.
 */
export async function mountInPlace(source: string, at: string, shown: string): Promise<MountedFile | undefined> {
  let fd: number;
  try {
    fd = openSync(source, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined; // the copy opens it again and names the error
  }
  const identity = await syncedIdentity(fd, at).catch(() => undefined);
  if (!identity) {
    closeSync(fd);
    return undefined;
  }
  const unmount = () => run('umount', ['--lazy', at]).then(() => undefined);
  try {
    await run('mount', ['--no-canonicalize', '--bind', '-o', 'ro', `/proc/${process.pid}/fd/${fd}`, at]);
  } catch {
    await rm(at, { force: true });
    closeSync(fd);
    return undefined;
  }
  const mounted = statSync(at, { bigint: true });
  if (mounted.dev !== identity.dev || mounted.ino !== identity.ino) {
    await unmount().catch(() => undefined);
    await rm(at, { force: true });
    closeSync(fd);
    return undefined;
  }
  let released = false;
  return {
    identity,
    assertUnchanged() {
      if (!sameIdentity(identityOf(fstatSync(fd, { bigint: true })), identity)) throw changed(shown);
    },
    async release() {
      if (released) return;
      released = true;
      try {
        await unmount();
      } finally {
        closeSync(fd);
      }
    },
  };
}

/**
 * The open file's identity once it is synced, with the empty file to mount it on created at `at`;
 * undefined when it is not to be mounted — not a regular file, too small, not readable by the
 * sandbox's user, or written while it was being synced (the copy then takes what is there).
 */
async function syncedIdentity(fd: number, at: string): Promise<FileIdentity | undefined> {
  const before = fstatSync(fd, { bigint: true });
  if (!before.isFile() || !mountable({ size: Number(before.size), mode: Number(before.mode) })) return undefined;
  fsyncSync(fd);
  const after = identityOf(fstatSync(fd, { bigint: true }));
  if (!sameIdentity(identityOf(before), after)) return undefined;
  await writeFile(at, '', { flag: 'wx', mode: 0o444 });
  return after;
}

/**
 * Lazily unmounts every mount at or under `dir`, synchronously: before a staging folder is removed
 * by an exit handler or by the sweep of a dead process's folders (a file that is a mount point
 * cannot be unlinked). Deepest first; failures are left to the removal to report.
 */
export function unmountUnder(dir: string): void {
  let mountinfo: string;
  try {
    mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return;
  }
  const points = mountinfo
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => p !== undefined)
    .map(unescapeMountPoint)
    .filter((p) => p.startsWith(dir + '/'))
    .sort((a, b) => b.length - a.length);
  for (const p of points) {
    try {
      execFileSync('umount', ['--lazy', p], { stdio: 'ignore' });
    } catch {
      // the removal that follows names what is left
    }
  }
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescapeMountPoint(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}
