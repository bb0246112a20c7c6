import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

/**
 * A stand-in for the Hugging Face Hub on loopback, in the Hub's API shapes: `revision` (model info
 * with `sha` and `siblings`), `tree` (paged with Link headers, LFS oids), `paths-info`, and
 * `resolve` (small files served with their git blob id as ETag; LFS files through a redirect to
 * a CDN on another origin, with X-Linked-Etag and X-Linked-Size), ranges, private repos behind a
 * token. Test infrastructure only: what the gate and the real clients talk to.
 */
export interface HubFile {
  path: string;
  content: Buffer;
  /** Stored in LFS (the tree gives its sha256 as lfs.oid). Default: files over 1 MiB and weights. */
  lfs?: boolean;
  /** What the server actually sends instead of `content` (a tampered mirror): the tree still describes `content`. */
  served?: Buffer;
}

export interface HubRepo {
  id: string;
  files: HubFile[];
  /** Only this bearer token may see the repo. */
  token?: string;
}

export interface HubStandIn {
  url: string;
  /** The commit each repo's `main` resolves to. */
  commit(repo: string): string;
  /** Requests seen, by path (without query). */
  requests: string[];
  /** Authorization headers seen on CDN (redirect target) requests: must stay empty. */
  cdnAuthorization: string[];
  close(): Promise<void>;
}

export const gitOid = (b: Buffer) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const isLfs = (f: HubFile) => f.lfs ?? (f.content.length > 1 << 20 || /\.(bin|pt|pth|pkl|safetensors|npy|h5|onnx|gguf|joblib)$/.test(f.path));

export async function startHub(repos: HubRepo[], opts: { pageSize?: number } = {}): Promise<HubStandIn> {
  const pageSize = opts.pageSize ?? 3;
  const commits = new Map(
    repos.map((r) => [
      r.id,
      createHash('sha1')
        .update(r.id)
        .update(JSON.stringify(r.files.map((f) => [f.path, sha256(f.content)])))
        .digest('hex'),
    ]),
  );
  const requests: string[] = [];
  const cdnAuthorization: string[] = [];
  const blobs = new Map<string, Buffer>();
  // per repo: one repo's tampered copy must not stand in for another's genuine blob of the same oid
  const cdnKey = (repo: HubRepo, f: HubFile) => `${repos.indexOf(repo)}/${sha256(f.content)}`;
  for (const r of repos) for (const f of r.files) if (isLfs(f)) blobs.set(cdnKey(r, f), f.served ?? f.content);

  // LFS content is on another origin, as the Hub's CDN is: a client must not carry the token there
  const cdn = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://cdn');
    requests.push(url.pathname);
    if (req.headers.authorization) cdnAuthorization.push(req.headers.authorization);
    const blob = url.pathname.startsWith('/cdn/') ? blobs.get(url.pathname.slice(5)) : undefined;
    // the CDN's own ETag is the object's: the LFS oid
    if (blob) sendBytes(req, res, blob, { ETag: `"${url.pathname.split('/').pop()}"` });
    else error(res, 404, 'EntryNotFound', 'no such blob');
  });
  await new Promise<void>((r) => cdn.listen(0, '127.0.0.1', r));
  const cdnUrl = `http://127.0.0.1:${(cdn.address() as { port: number }).port}`;

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://hub');
    requests.push(url.pathname);
    const segs = url.pathname.split('/').slice(1).map(decodeURIComponent);
    const api = segs[0] === 'api' && segs[1] === 'models';
    const kindAt = api ? segs.findIndex((s, i) => i >= 3 && ['revision', 'tree', 'paths-info'].includes(s)) : segs.indexOf('resolve');
    if (kindAt < 0) {
      error(res, 404, 'RepoNotFound', 'unknown route');
      return;
    }
    const repoId = segs.slice(api ? 2 : 0, kindAt).join('/');
    const repo = repos.find((r) => r.id === repoId);
    if (!repo || (repo.token && req.headers.authorization !== `Bearer ${repo.token}`)) {
      error(res, 401, 'RepoNotFound', 'Repository not found');
      return;
    }
    const commit = commits.get(repo.id)!;
    const rev = segs[kindAt + 1];
    if (rev !== 'main' && rev !== commit) {
      error(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
      return;
    }
    const kind = segs[kindAt];
    const entry = (f: HubFile) => ({
      type: 'file',
      oid: gitOid(f.content),
      size: f.content.length,
      path: f.path,
      ...(isLfs(f) ? { lfs: { oid: sha256(f.content), size: f.content.length, pointerSize: 134 } } : {}),
    });
    if (kind === 'revision') {
      json(res, { _id: repo.id, id: repo.id, sha: commit, private: Boolean(repo.token), siblings: repo.files.map((f) => ({ rfilename: f.path })), lastModified: '2026-12-01T00:00:00.000Z' });
      return;
    }
    if (kind === 'tree') {
      const all = repo.files.map(entry);
      const cursor = Number(url.searchParams.get('cursor') ?? 0);
      const page = all.slice(cursor, cursor + pageSize);
      const next = cursor + pageSize < all.length ? new URL(url) : undefined;
      next?.searchParams.set('cursor', String(cursor + pageSize));
      json(res, page, next ? { Link: `<http://${req.headers.host}${next.pathname}${next.search}>; rel="next"` } : {});
      return;
    }
    if (kind === 'paths-info') {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        const paths = (JSON.parse(body) as { paths: string[] }).paths;
        json(res, repo.files.filter((f) => paths.includes(f.path)).map(entry));
      });
      return;
    }
    const path = segs.slice(kindAt + 2).join('/');
    const f = repo.files.find((x) => x.path === path);
    if (!f) {
      error(res, 404, 'EntryNotFound', `${path} does not exist`);
      return;
    }
    if (isLfs(f)) {
      const oid = sha256(f.content);
      const location = `${cdnUrl}/cdn/${cdnKey(repo, f)}`;
      res.writeHead(302, { Location: location, 'X-Repo-Commit': commit, ETag: `"${oid}"`, 'X-Linked-Etag': `"${oid}"`, 'X-Linked-Size': String(f.content.length), 'Content-Length': '0' }).end();
      return;
    }
    sendBytes(req, res, f.served ?? f.content, { 'X-Repo-Commit': commit, ETag: `"${gitOid(f.content)}"` });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    url,
    commit: (id) => commits.get(id)!,
    requests,
    cdnAuthorization,
    close: async () => {
      for (const s of [server, cdn]) {
        await new Promise<void>((r) => {
          s.close(() => r());
          s.closeAllConnections();
        });
      }
    },
  };
}

function sendBytes(req: IncomingMessage, res: ServerResponse, bytes: Buffer, headers: Record<string, string>): void {
  const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
  const start = m ? Number(m[1]) : 0;
  const end = m && m[2] ? Math.min(Number(m[2]), bytes.length - 1) : bytes.length - 1;
  const body = bytes.subarray(start, end + 1);
  res.writeHead(m ? 206 : 200, {
    'Content-Type': 'application/octet-stream',
    'Accept-Ranges': 'bytes',
    'Content-Length': String(body.length),
    ...(m ? { 'Content-Range': `bytes ${start}-${end}/${bytes.length}` } : {}),
    ...headers,
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function json(res: ServerResponse, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(200, { 'Content-Type': 'application/json', ...headers }).end(JSON.stringify(body));
}

function error(res: ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, { 'X-Error-Code': code, 'X-Error-Message': message, 'Content-Type': 'application/json' }).end(JSON.stringify({ error: message }));
}
