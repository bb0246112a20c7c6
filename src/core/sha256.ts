import { createHash, type Hash } from 'node:crypto';

/**
 * The one sha256 of the tool: file digests, rule-set and recipe digests, fingerprints and key ids
 * are all lowercase hex sha256, computed here. (manifest/hash.ts's worker threads run plain
 * JavaScript and hash with node:crypto directly; they produce the same digest.)
 */

/** An incremental sha256, for data that arrives in chunks (streams, copies). */
export function sha256Hasher(): Hash {
  return createHash('sha256');
}

/** Hex sha256 of the parts concatenated. */
export function sha256(...parts: (string | Uint8Array)[]): string {
  const h = sha256Hasher();
  for (const p of parts) h.update(p);
  return h.digest('hex');
}

/**
 * Hex sha256 over named contents in name order, each as `name NUL content NUL`: the digest of a
 * folder of files (the rule set, the image recipe), which changes when a file is added, removed,
 * renamed or edited.
 */
export function sha256Named(entries: Iterable<readonly [string, string | Uint8Array]>): string {
  const sorted = [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return sha256(...sorted.flatMap(([name, content]) => [`${name}\0`, content, '\0']));
}
