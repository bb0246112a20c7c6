import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { sha256File } from '../manifest/index.js';

interface Entry {
  size: number;
  mtimeMs: number;
  sha256: string;
}

/**
 * sha256 of files of the sandbox image's rootfs, remembered across vets in a root-owned file beside
 * the rootfs (`libdigests-<digest>.json`): a torch load maps about 85 libraries, 426 MB, and hashing
 * them again for every vet cost about a second. The rootfs of a recipe digest never changes (the
 * sandbox mounts it read-only); an entry is still only reused while the file's size and mtime match.
 */
export async function rootfsDigests(rootfs: string, paths: string[]): Promise<{ digests: Map<string, string>; failed: string[] }> {
  const cacheFile = join(dirname(rootfs), `libdigests-${basename(rootfs).replace(/^rootfs-/, '')}.json`);
  const cache: Record<string, Entry> = await readFile(cacheFile, 'utf8')
    .then((t) => JSON.parse(t) as Record<string, Entry>)
    .catch(() => ({}));
  const out = new Map<string, string>();
  /** files of the rootfs that could not be hashed: a manifest cannot pin them */
  const failed: string[] = [];
  const fresh = await Promise.all(
    paths.map(async (p) => {
      const file = join(rootfs, p);
      const s = await stat(file).catch((err: unknown) => {
        // absent from the rootfs: a library from the run's tmpfs (installed dependencies), gone with it
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'ENOTDIR') failed.push(p);
        return undefined;
      });
      if (!s?.isFile()) return;
      const hit = cache[p];
      if (hit && hit.size === s.size && hit.mtimeMs === s.mtimeMs) {
        out.set(p, hit.sha256);
        return false;
      }
      const sha256 = await sha256File(file).catch(() => undefined);
      if (!sha256) {
        failed.push(p);
        return;
      }
      cache[p] = { size: s.size, mtimeMs: s.mtimeMs, sha256 };
      out.set(p, sha256);
      return true;
    }),
  );
  if (fresh.includes(true)) {
    // write whole and rename: vets running side by side never read half a file
    const tmp = `${cacheFile}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(cache))
      .then(() => rename(tmp, cacheFile))
      .catch(() => undefined); // a cache that cannot be written only costs time
  }
  return { digests: out, failed: failed.sort() };
}
