import { posix } from 'node:path';

/**
 * Folders whose next path component is a package (or the runtime itself): any file read under
 * `<root><name>/` is allowed as that prefix, so an allowlist names a few dozen packages instead of
 * the thousands of files `import torch` opens. Paths are as seen inside the sandbox.
 */
const PACKAGE_ROOTS: RegExp[] = [
  /^\/usr\/lib\/python3\/dist-packages\//,
  /^\/usr\/local\/lib\/python3(\.\d+)?\/(dist|site)-packages\//,
  /^\/tmp\/ltrack\/prefix\/(local\/)?lib\/python3(\.\d+)?\/(site|dist)-packages\//,
];
/** The interpreter's standard library is one unit: allowed as a whole. */
const RUNTIME_ROOTS: RegExp[] = [/^\/usr\/lib\/python3\.\d+\//];
/** Process pseudo-files differ by pid between runs. */
const PROC = /^\/proc\/(\d+|self|thread-self)\//;
/** More files than this read from one folder collapse to the folder. */
const FOLDER_COLLAPSE = 16;

export function generaliseReads(paths: Iterable<string>): string[] {
  const out = new Set<string>();
  const byFolder = new Map<string, string[]>();
  for (const raw of paths) {
    const path = posix.normalize(raw);
    const prefix = prefixOf(path);
    if (prefix !== undefined) {
      out.add(prefix);
      continue;
    }
    const folder = posix.dirname(path);
    const list = byFolder.get(folder) ?? [];
    list.push(path);
    byFolder.set(folder, list);
  }
  for (const [folder, files] of byFolder) {
    if (files.length > FOLDER_COLLAPSE) out.add(folder.endsWith('/') ? folder : `${folder}/`);
    else for (const f of files) out.add(f);
  }
  // A path already covered by a prefix in the set adds nothing.
  const prefixes = [...out].filter((p) => p.endsWith('/'));
  return [...out].filter((p) => !prefixes.some((q) => q !== p && p.startsWith(q))).sort();
}

function prefixOf(path: string): string | undefined {
  for (const root of PACKAGE_ROOTS) {
    const m = root.exec(path);
    if (!m) continue;
    const rest = path.slice(m[0].length);
    const name = rest.split('/')[0];
    // A single module file (six.py) or a .pth/.dist-info entry stays exact below the root folder.
    return rest.includes('/') && name ? `${m[0]}${name}/` : path;
  }
  for (const root of RUNTIME_ROOTS) {
    const m = root.exec(path);
    if (m) return m[0];
  }
  if (PROC.test(path)) return '/proc/';
  return undefined;
}

/** Whether `path` is allowed by a generalised list (exact entry, or under a "/"-terminated prefix). */
export function readAllowed(allowed: readonly string[], path: string): boolean {
  const p = posix.normalize(path);
  return allowed.some((a) => (a.endsWith('/') ? p.startsWith(a) : p === a));
}
