import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DECOY_FILES, type DecoyIdentity } from '../core/decoys.js';
import { kernelDev } from '../trace/identity.js';

export interface PlantedDecoy extends DecoyIdentity {
  /** the host file bind-mounted read-only at `path` */
  hostPath: string;
}

/**
 * Writes one host file per decoy into `dir`; each is bind-mounted read-only at its sandbox path.
 * A read-only bind mount is its own mount: a hard link to it fails (EXDEV) and writes fail (EROFS),
 * so the only ways to its bytes are opens of this very inode, whatever path or mount they take
 * (a renamed ~/.ssh, /proc/self/root/..., a copy made by reading it): the vet matches them by
 * identity (src/vet/decoys.ts), never by name.
 */
export async function writeDecoys(dir: string): Promise<PlantedDecoy[]> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const out: PlantedDecoy[] = [];
  for (const [i, [dest, content]] of Object.entries(DECOY_FILES).entries()) {
    const hostPath = join(dir, `decoy-${i}`);
    // readable by the sandbox's unprivileged uid (bwrap reads it as that uid on the host)
    await writeFile(hostPath, content, { mode: 0o644 });
    const s = await stat(hostPath, { bigint: true });
    out.push({ path: dest, hostPath, inode: Number(s.ino), dev: kernelDev(s.dev) });
  }
  return out;
}
