import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { LtrackError } from '../core/errors.js';
import { checkRepoPath, isCommit } from './names.js';

/**
 * The Hugging Face Hub's download API, as its clients use it (huggingface_hub, @huggingface/hub):
 * `GET /api/models/R/revision/REV` → `{sha}`; `GET /api/models/R/tree/COMMIT?recursive=true`
 * → `[{type, path, size, oid, lfs?: {oid, size}}]`, paged by `Link: <…>; rel="next"`;
 * `GET /R/resolve/COMMIT/PATH` → the bytes, LFS files through a redirect. Written on fetch rather
 * than @huggingface/hub because the gate must stream each file to disk while hashing it, bound
 * it to the size the tree announced, and keep the token off every other origin; the library's
 * blobs do none of that. The token goes in the Authorization header only, never in a message.
 */
export interface HubSource {
  endpoint: string;
  token?: string;
}

/** One file of a commit, as the tree lists it: `oid` is its git blob id, `lfs.oid` the sha256 of an LFS file's content. */
export interface TreeFile {
  path: string;
  size: number;
  oid: string;
  lfs?: { oid: string; size: number };
}

export interface Downloaded {
  size: number;
  sha256: string;
  /** git's blob id of the content (sha1 of `blob SIZE\0` + bytes), what the tree's `oid` is for a non-LFS file. */
  gitOid: string;
}

/** What the bytes must be for a tree entry: sha256 for LFS files, git's blob id otherwise. */
export function expectedDigest(f: TreeFile): { kind: 'sha256' | 'git-oid'; value: string; size: number } {
  return f.lfs ? { kind: 'sha256', value: f.lfs.oid, size: f.lfs.size } : { kind: 'git-oid', value: f.oid, size: f.size };
}

export function matches(f: TreeFile, got: Downloaded): boolean {
  const want = expectedDigest(f);
  return got.size === want.size && (want.kind === 'sha256' ? got.sha256 === want.value : got.gitOid === want.value);
}

const MAX_TREE_ENTRIES = 100_000;
const MAX_REDIRECTS = 5;

export async function resolveCommit(src: HubSource, repo: string, revision: string): Promise<string> {
  const url = `${base(src)}/api/models/${repo}/revision/${encodeURIComponent(revision)}`;
  const body = (await (await hubFetch(src, url, `${repo}@${revision}`)).json().catch(() => undefined)) as { sha?: unknown } | undefined;
  if (typeof body?.sha !== 'string' || !isCommit(body.sha)) throw new LtrackError('upstream_failed', `${url}: the Hub's answer names no commit`);
  return body.sha;
}

export async function listTree(src: HubSource, repo: string, commit: string): Promise<TreeFile[]> {
  const files: TreeFile[] = [];
  let url: string | undefined = `${base(src)}/api/models/${repo}/tree/${commit}?recursive=true&expand=false`;
  while (url) {
    const res = await hubFetch(src, url, `${repo}@${commit}`);
    const page: unknown = await res.json().catch(() => undefined);
    if (!Array.isArray(page)) throw new LtrackError('upstream_failed', `${url}: the tree is not a list`);
    for (const e of page as { type?: unknown; path?: unknown; size?: unknown; oid?: unknown; lfs?: { oid?: unknown; size?: unknown } }[]) {
      if (e.type !== 'file') continue;
      if (typeof e.path !== 'string' || typeof e.size !== 'number' || typeof e.oid !== 'string') throw new LtrackError('upstream_failed', `${url}: a tree entry without path, size or oid`);
      const lfs = e.lfs && typeof e.lfs.oid === 'string' && typeof e.lfs.size === 'number' ? { oid: e.lfs.oid, size: e.lfs.size } : undefined;
      files.push({ path: checkRepoPath(e.path), size: lfs?.size ?? e.size, oid: e.oid, ...(lfs ? { lfs } : {}) });
    }
    if (files.length > MAX_TREE_ENTRIES) throw new LtrackError('bad_input', `${repo}@${commit} lists more than ${MAX_TREE_ENTRIES} files`);
    url = nextLink(res.headers.get('link'), url, src);
  }
  return files.sort((a, b) => (a.path < b.path ? -1 : 1));
}

/**
 * Streams one file of a commit to `dest` (created, never overwritten), hashing as it goes; at
 * most the announced size plus one byte is written, so an upstream cannot fill the disk.
 */
export async function downloadFile(src: HubSource, repo: string, commit: string, f: TreeFile, dest: string): Promise<Downloaded> {
  const url = `${base(src)}/${repo}/resolve/${commit}/${f.path.split('/').map(encodeURIComponent).join('/')}`;
  const res = await hubFetch(src, url, `${repo}@${commit}/${f.path}`);
  const want = expectedDigest(f).size;
  const sha256 = createHash('sha256');
  // git's blob id needs the size first: the announced one; a body of another size fails the check anyway
  const gitOid = createHash('sha1').update(`blob ${want}\0`);
  const out = await open(dest, 'wx', 0o600);
  let size = 0;
  try {
    if (!res.body) throw new LtrackError('upstream_failed', `${url}: no body`);
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      const take = Math.min(chunk.length, want + 1 - size);
      const part = chunk.subarray(0, take);
      sha256.update(part);
      gitOid.update(part);
      await out.write(part);
      size += take;
      if (size > want) break; // longer than announced: the digest cannot match; stop reading
    }
  } finally {
    await out.close();
  }
  return { size, sha256: sha256.digest('hex'), gitOid: gitOid.digest('hex') };
}

function base(src: HubSource): string {
  return src.endpoint.replace(/\/+$/, '');
}

/** GET with the token on the Hub's own origin only; redirects followed by hand so it never leaks to a CDN. */
async function hubFetch(src: HubSource, url: string, what: string): Promise<Response> {
  const origin = new URL(base(src)).origin;
  let current = url;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const sameOrigin = new URL(current).origin === origin;
    let res: Response;
    try {
      res = await fetch(current, { redirect: 'manual', headers: { accept: 'application/json, */*', ...(sameOrigin && src.token ? { authorization: `Bearer ${src.token}` } : {}) } });
    } catch (err) {
      throw new LtrackError('upstream_failed', `cannot reach ${origin} for ${what}: ${err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err)}`, {
        cause: err,
      });
    }
    if (res.status >= 300 && res.status < 400 && res.headers.get('location')) {
      current = new URL(res.headers.get('location')!, current).toString();
      await res.body?.cancel();
      continue;
    }
    if (res.ok) return res;
    const message = res.headers.get('x-error-message') ?? res.statusText;
    await res.body?.cancel();
    if (res.status === 401 || res.status === 403) throw new LtrackError('bad_input', `${what}: the Hub refused access (${res.status} ${message}); a gated or private repo needs HF_TOKEN`);
    if (res.status === 404) throw new LtrackError('bad_input', `${what}: not found on ${origin} (${message})`);
    throw new LtrackError('upstream_failed', `${what}: ${origin} answered ${res.status} ${message}`);
  }
  throw new LtrackError('upstream_failed', `${what}: more than ${MAX_REDIRECTS} redirects`);
}

/** The next page of a listing, only on the Hub's own origin. */
function nextLink(header: string | null, current: string, src: HubSource): string | undefined {
  const m = header ? /<([^>]+)>\s*;\s*rel="next"/.exec(header) : null;
  if (!m) return undefined;
  const next = new URL(m[1]!, current);
  if (next.origin !== new URL(base(src)).origin) throw new LtrackError('upstream_failed', `${current}: the next page is on another origin (${next.origin})`);
  return next.toString();
}
