import { closeSync, createReadStream, fstatSync, openSync, readFileSync, type BigIntStats } from 'node:fs';
import { sha256 as sha256Of, sha256Hasher } from '../core/sha256.js';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { LtrackError } from '../core/errors.js';
import type { KernelAllowlist } from '../core/kernel-filter.js';
import type { Statement } from '../manifest/types.js';
import { kernelDev } from '../trace/identity.js';
import type { AllowedBehaviour } from './types.js';

/** What a verified vet manifest allows: what the model legitimately made happen in the sandbox. */
export function manifestBehaviour(st: Statement, origin: string): AllowedBehaviour {
  const { allow } = st.predicate;
  return {
    source: 'manifest',
    origin,
    exec: [...new Set(allow.exec.map((e) => e.path))],
    libraries: allow.librariesMapped.map((l) => ({ path: l.path, ...(l.sha256 ? { sha256: l.sha256 } : {}) })),
    network: allow.network.filter((n) => isIP(n.addr) !== 0).map((n) => ({ addr: n.addr, prefix: isIP(n.addr) === 4 ? 32 : 128, port: n.port })),
    reads: [...allow.filesRead],
  };
}

/** A library the allow lists name whose bytes on this host are not the signed ones, or that is missing. */
export interface LibraryProblem {
  path: string;
  origin: string;
  reason: string;
}

/** The union of every allow list as kernel maps, plus what could not be allowed and why. */
export interface CompiledAllowlist {
  kernel: KernelAllowlist;
  /** (dev:inode) of every library admitted by digest, for judging events in user space */
  libraryIds: Set<string>;
  problems: LibraryProblem[];
}

export const fileId = (dev: number, inode: number) => `${dev}:${inode}`;

/** Libraries below this size are read whole, synchronously. */
const SMALL_FILE = 1n << 20n;

type Identified = { dev: number; inode: number; sha256: string } | string;

/**
 * The identity and digest of the file at `file`, both taken through one descriptor, so the inode
 * admitted is the one whose bytes were hashed; or why it cannot be admitted. A file written while
 * it was hashed has no one identity. Small files (most libraries of a big manifest) are read
 * synchronously: for ten thousand of them the thread-pool round trips, not the hashing, dominate.
 */
async function identifyLibrary(file: string): Promise<Identified> {
  const changed = (a: BigIntStats, b: BigIntStats) => a.ino !== b.ino || a.mtimeNs !== b.mtimeNs || a.size !== b.size;
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return 'missing on this host';
  }
  try {
    const before = fstatSync(fd, { bigint: true });
    if (!before.isFile()) return 'not a regular file';
    const sha256 = before.size < SMALL_FILE ? sha256Of(readFileSync(fd)) : await sha256Fd(fd);
    if (changed(before, fstatSync(fd, { bigint: true }))) return 'changed while it was hashed';
    return { dev: kernelDev(before.dev), inode: Number(before.ino), sha256 };
  } catch {
    return 'unreadable';
  } finally {
    closeSync(fd);
  }
}

/** sha256 of a large file through an open descriptor, streamed (the descriptor stays open). */
async function sha256Fd(fd: number): Promise<string> {
  const hash = sha256Hasher();
  for await (const chunk of createReadStream('', { fd, autoClose: false, highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Compiles the allow lists into what the kernel enforces. A library with a sha256 is admitted by
 * the (device, inode) of the host file at that path, and only if the file's bytes hash to it now:
 * a path alone would admit whatever is written there later. Libraries without a digest are admitted
 * by path (the kernel compares the resolved path). Paths are as the target sees them: `root` is
 * where its filesystem is seen from here (a container's /proc/PID/root). Network entries must name one host: the kernel
 * map holds exact peers, so a wider prefix is refused here rather than silently narrowed.
 */
export async function compileAllowlist(behaviours: readonly AllowedBehaviour[], root = '/'): Promise<CompiledAllowlist> {
  const problems: LibraryProblem[] = [];
  const execPaths = new Set<string>();
  const libraryPaths = new Set<string>();
  const inodes = new Map<string, { dev: number; inode: number }>();
  const connect = new Map<string, { addr: string; port: number }>();
  const digests = new Map<string, Promise<Identified>>();
  const identify = (path: string) => {
    let p = digests.get(path);
    if (!p) {
      p = identifyLibrary(join(root, path));
      digests.set(path, p);
    }
    return p;
  };
  for (const b of behaviours) {
    for (const e of b.exec) execPaths.add(e);
    for (const n of b.network) {
      const full = isIP(n.addr) === 4 ? 32 : 128;
      if (n.prefix !== full) throw new LtrackError('manifest_invalid', `network peer ${n.addr}/${n.prefix}: only single hosts can be enforced (prefix /${full})`, { file: b.origin });
      connect.set(`${n.addr}|${n.port}`, { addr: n.addr, port: n.port });
    }
    for (const lib of b.libraries) {
      if (lib.sha256 === undefined) {
        libraryPaths.add(lib.path);
        continue;
      }
      const got = await identify(lib.path);
      if (typeof got === 'string') problems.push({ path: lib.path, origin: b.origin, reason: got });
      else if (got.sha256 !== lib.sha256) problems.push({ path: lib.path, origin: b.origin, reason: `sha256 ${got.sha256.slice(0, 12)}… is not the signed ${lib.sha256.slice(0, 12)}…` });
      else inodes.set(fileId(got.dev, got.inode), { dev: got.dev, inode: got.inode });
    }
  }
  return {
    kernel: { execPaths: [...execPaths], libraryPaths: [...libraryPaths], libraryInodes: [...inodes.values()], connect: [...connect.values()] },
    libraryIds: new Set(inodes.keys()),
    problems,
  };
}
