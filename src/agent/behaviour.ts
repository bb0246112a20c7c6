import { stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { LtrackError } from '../core/errors.js';
import type { KernelAllowlist } from '../core/kernel-filter.js';
import { sha256File } from '../manifest/hash.js';
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
  const digests = new Map<string, Promise<{ dev: number; inode: number; sha256: string } | string>>();
  const identify = (path: string) => {
    let p = digests.get(path);
    if (!p) {
      p = (async () => {
        const file = join(root, path);
        const before = await stat(file, { bigint: true }).catch(() => undefined);
        if (!before?.isFile()) return 'missing on this host';
        const sha256 = await sha256File(file).catch(() => undefined);
        const after = await stat(file, { bigint: true }).catch(() => undefined);
        // a file replaced or rewritten while it was hashed has no one identity to admit
        if (sha256 === undefined || !after || after.ino !== before.ino || after.mtimeNs !== before.mtimeNs || after.size !== before.size) return 'changed while it was hashed';
        return { dev: kernelDev(before.dev), inode: Number(before.ino), sha256 };
      })();
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
