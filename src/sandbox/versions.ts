import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The loader stack a vet reports, by the Debian package that provides each part in the image. */
const WATCHED = { python: 'python3', torch: 'python3-torch', numpy: 'python3-numpy' } as const;

export type LoaderVersions = Partial<Record<keyof typeof WATCHED, string>>;

/**
 * The Python, torch and numpy versions of the sandbox image, read by the host from the rootfs's
 * dpkg database (the image is ours; nothing the candidate wrote is consulted). A version the
 * database does not list is left out rather than guessed.
 */
export async function imageLoaderVersions(rootfs: string): Promise<LoaderVersions> {
  const status = await readFile(join(rootfs, 'var/lib/dpkg/status'), 'utf8').catch(() => '');
  const installed = new Map<string, string>();
  for (const stanza of status.split(/\n\n+/)) {
    const pkg = /^Package: (.+)$/m.exec(stanza)?.[1];
    const version = /^Version: (.+)$/m.exec(stanza)?.[1];
    if (pkg && version && /^Status: .* installed$/m.test(stanza)) installed.set(pkg, version);
  }
  const out: LoaderVersions = {};
  for (const [part, pkg] of Object.entries(WATCHED) as [keyof typeof WATCHED, string][]) {
    const v = installed.get(pkg);
    if (v) out[part] = v;
  }
  return out;
}
