import { open, readlink, realpath, type FileHandle } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { basename, join } from 'node:path';
import { LtrackError } from '../core/errors.js';
import type { VetOptions } from '../vet/index.js';
import { gate, recordedOutcome, rulesetDigest, type GateOptions, type GateOutcome } from './gate.js';
import { checkRepoId, checkRepoPath, checkRevision } from './names.js';
import { Registry } from './registry.js';

/**
 * A gating proxy that speaks the Hub's download API, so clients gate without a code change
 * (`HF_ENDPOINT=http://gate:PORT`). Every request for a repo resolves its revision at the upstream
 * with the client's own token (so access control stays the Hub's), then the commit's verdict
 * decides: a promoted commit is served from the registry (files) or passed through (metadata: the
 * revision, tree and paths-info answers, pinned to that commit); a blocked one gets 403 with the
 * finding in X-Error-Message, which the clients show; an unvetted one is vetted first, once however
 * many requests wait for it, with at most `queue` commits waiting (then 503 and Retry-After).
 * Nothing is ever written through the proxy: it serves GET, HEAD and the read-only paths-info POST.
 */
export interface ServeOptions {
  listen: { host: string; port: number };
  upstream: string;
  registry: string;
  quarantine?: string;
  allowPatterns?: string[];
  sign?: GateOptions['sign'];
  queue: number;
  vet: Omit<VetOptions, 'paths' | 'priorDetections'>;
  log: (line: string) => void;
}

export interface GateServer {
  url: string;
  close(): Promise<void>;
}

const RETRY_AFTER_S = 30;

export async function serveGate(opts: ServeOptions): Promise<GateServer> {
  const registry = new Registry(opts.registry);
  const upstream = opts.upstream.replace(/\/+$/, '');
  const inflight = new Map<string, Promise<GateOutcome>>();
  // one vet at a time: a sandbox and a tracer per vet; the rest wait in the bounded queue
  let chain: Promise<unknown> = Promise.resolve();

  const digest = await rulesetDigest(opts.vet);
  const decide = async (repo: string, commit: string, token: string | undefined): Promise<GateOutcome> => {
    // a commit gated before is answered from its record, without waiting behind a running vet
    const known = await recordedOutcome(opts.registry, repo, commit, digest);
    if (known) return known;
    const id = `${repo}@${commit}`;
    const waiting = inflight.get(id);
    if (waiting) return waiting;
    if (inflight.size >= opts.queue) throw new Busy();
    const run = chain.then(() => {
      opts.log(`ltrack gate serve: vetting ${id}`);
      return gate({
        source: { kind: 'hub', repo, revision: commit, hub: { endpoint: upstream, ...(token ? { token } : {}) } },
        registry: opts.registry,
        ...(opts.quarantine ? { quarantine: opts.quarantine } : {}),
        ...(opts.allowPatterns ? { allowPatterns: opts.allowPatterns } : {}),
        ...(opts.sign ? { sign: opts.sign } : {}),
        vet: opts.vet,
        rulesetDigest: digest,
      }).then((o) => {
        if (!o.cached) {
          opts.log(`ltrack gate serve: ${id} ${o.status}${o.reasons[0] ? ` (${o.reasons[0]})` : ''}`);
        }
        return o;
      });
    });
    chain = run.catch(() => undefined);
    inflight.set(id, run);
    void run.finally(() => inflight.delete(id)).catch(() => undefined);
    return run;
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => fail(res, err));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const token = bearer(req);
    const route = parseRoute(url.pathname, req.method ?? 'GET');
    if (!route) {
      send(res, 404, 'not something the gate serves (model repos only)', { 'X-Error-Code': 'RepoNotFound' });
      return;
    }
    // the revision, as the client's own credentials resolve it at the upstream
    const info = await upstreamJson(`${upstream}/api/models/${route.repo}/revision/${encodeURIComponent(route.revision)}`, token);
    if (info.status !== 200) {
      passStatus(res, info);
      return;
    }
    const commit = (info.json as { sha?: unknown }).sha;
    if (typeof commit !== 'string' || !/^[0-9a-f]{40}$/.test(commit)) throw new LtrackError('upstream_failed', 'the upstream named no commit');
    let outcome: GateOutcome;
    try {
      outcome = await decide(route.repo, commit, token);
    } catch (err) {
      if (err instanceof Busy) {
        send(res, 503, `the gate has ${opts.queue} commits to vet already; try again`, { 'Retry-After': String(RETRY_AFTER_S) });
        return;
      }
      throw err;
    }
    if (outcome.status === 'block') {
      send(res, 403, `ltrack gate blocked ${route.repo}@${commit}: ${outcome.reasons[0] ?? 'blocked'}`, { 'X-Error-Code': 'GatedRepo', 'X-Repo-Commit': commit });
      return;
    }
    if (outcome.status === 'incomplete') {
      send(res, 503, `ltrack gate could not vet ${route.repo}@${commit}: ${outcome.reasons[0] ?? 'incomplete'}`, { 'Retry-After': String(RETRY_AFTER_S) });
      return;
    }
    // production loads the registry offline by the names clients use: refs/REVISION follows the commit that passed
    await registry.setRef(route.repo, route.revision, commit);
    switch (route.kind) {
      case 'revision':
        json(res, info.json, { 'X-Repo-Commit': commit });
        return;
      case 'file':
        return serveFile(req, res, registry, route.repo, commit, route.path);
      case 'tree':
      case 'paths-info': {
        const rest = url.pathname.split(`/${route.kind}/`)[1]!.split('/').slice(1).join('/');
        const target = `${upstream}/api/models/${route.repo}/${route.kind}/${commit}${rest ? `/${rest}` : ''}${url.search}`;
        const body = req.method === 'POST' ? await readBody(req) : undefined;
        const r = await upstreamJson(target, token, body);
        if (r.status !== 200) {
          passStatus(res, r);
          return;
        }
        const link = r.headers.get('link');
        json(res, r.json, { 'X-Repo-Commit': commit, ...(link ? { Link: link.split(upstream).join(baseUrl(req)) } : {}) });
        return;
      }
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.listen.port, opts.listen.host, () => resolve());
  });
  const addr = server.address() as { address: string; port: number };
  return {
    url: `http://${addr.address.includes(':') ? `[${addr.address}]` : addr.address}:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

class Busy extends Error {}

type Route = { kind: 'revision' | 'tree' | 'paths-info'; repo: string; revision: string } | { kind: 'file'; repo: string; revision: string; path: string };

/**
 * `/api/models/R/revision/REV`, `/api/models/R/tree/REV[/PATH]`, POST `/api/models/R/paths-info/REV`,
 * `/R/resolve/REV/PATH` (R is `name` or `org/name`; REV one segment, URL-encoded as the clients
 * send it). Every part is checked; anything else is not served.
 */
export function parseRoute(pathname: string, method: string): Route | undefined {
  let segs: string[];
  try {
    segs = pathname.split('/').slice(1).map(decodeURIComponent);
  } catch {
    return undefined;
  }
  const safe = <T>(f: () => T): T | undefined => {
    try {
      return f();
    } catch {
      return undefined;
    }
  };
  if (segs[0] === 'api' && segs[1] === 'models') {
    for (const kind of ['revision', 'tree', 'paths-info'] as const) {
      const at = segs.indexOf(kind, 3);
      if (at < 3 || at > 4 || segs.length < at + 2) continue;
      if ((kind === 'paths-info') !== (method === 'POST') || (method !== 'GET' && method !== 'HEAD' && method !== 'POST')) return undefined;
      const repo = safe(() => checkRepoId(segs.slice(2, at).join('/')));
      const revision = safe(() => checkRevision(segs[at + 1]!));
      if (!repo || !revision || (kind === 'revision' && segs.length !== at + 2)) return undefined;
      return { kind, repo, revision };
    }
    return undefined;
  }
  if (method !== 'GET' && method !== 'HEAD') return undefined;
  const at = segs.indexOf('resolve');
  if (at < 1 || at > 2 || segs.length < at + 3) return undefined;
  const repo = safe(() => checkRepoId(segs.slice(0, at).join('/')));
  const revision = safe(() => checkRevision(segs[at + 1]!));
  const path = safe(() => checkRepoPath(segs.slice(at + 2).join('/')));
  return repo && revision && path ? { kind: 'file', repo, revision, path } : undefined;
}

/** One file of a promoted commit, as the Hub serves it: ETag, X-Linked-Etag/Size for LFS blobs, X-Repo-Commit, ranges. */
async function serveFile(req: IncomingMessage, res: ServerResponse, registry: Registry, repo: string, commit: string, path: string): Promise<void> {
  const snapshot = registry.snapshotDir(repo, commit);
  const link = join(snapshot, path);
  // the snapshot is ours, but a path must still land on one of the repo's blobs
  const [target, blobs] = await Promise.all([realpath(link).catch(() => undefined), realpath(join(registry.repoDir(repo), 'blobs'))]);
  if (!target || !target.startsWith(`${blobs}/`)) {
    send(res, 404, `${path} is not a file of ${repo}@${commit}`, { 'X-Error-Code': 'EntryNotFound', 'X-Repo-Commit': commit });
    return;
  }
  const etag = basename(await readlink(link));
  const fh = await open(target, 'r');
  const size = (await fh.stat()).size;
  const lfs = /^[0-9a-f]{64}$/.test(etag);
  const headers: Record<string, string> = {
    'Content-Type': 'application/octet-stream',
    'Accept-Ranges': 'bytes',
    ETag: `"${etag}"`,
    'X-Repo-Commit': commit,
    ...(lfs ? { 'X-Linked-Etag': `"${etag}"`, 'X-Linked-Size': String(size) } : {}),
  };
  const range = parseRange(req.headers.range, size);
  if (range === 'unsatisfiable') {
    await fh.close();
    res.writeHead(416, { ...headers, 'Content-Range': `bytes */${size}` }).end();
    return;
  }
  const [start, end] = range ?? [0, size - 1];
  res.writeHead(range ? 206 : 200, { ...headers, 'Content-Length': String(Math.max(0, end - start + 1)), ...(range ? { 'Content-Range': `bytes ${start}-${end}/${size}` } : {}) });
  if (req.method === 'HEAD' || size === 0) {
    await fh.close();
    return void res.end();
  }
  try {
    await sendRange(fh, res, start, end);
  } finally {
    await fh.close();
  }
}

const CHUNK = 1 << 20;

/**
 * Writes bytes start..end of the file to the response through two reused buffers: the next chunk
 * is read while the current one is written, and a buffer is read into again only once the socket
 * has taken it. No allocation per chunk, so a multi-GB file costs this process no garbage (a
 * read stream allocates a buffer per chunk, and in a process with ltrack's heap the collections
 * that follow cost a third of the throughput on loopback; bench/gate).
 */
async function sendRange(fh: FileHandle, res: ServerResponse, start: number, end: number): Promise<void> {
  const bufs = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
  const readAt = async (buf: Buffer, pos: number) => (pos > end ? 0 : (await fh.read(buf, 0, Math.min(CHUNK, end - pos + 1), pos)).bytesRead);
  const written = (chunk: Buffer) =>
    new Promise<void>((resolve, reject) => {
      res.write(chunk, (err) => (err ? reject(err) : resolve()));
    });
  let pos = start;
  let i = 0;
  let n = await readAt(bufs[0]!, pos);
  while (n > 0 && !res.destroyed) {
    const sending = written(bufs[i]!.subarray(0, n));
    const next = readAt(bufs[1 - i]!, pos + n);
    next.catch(() => undefined); // awaited below; a failed write must not leave it unhandled
    await sending;
    pos += n;
    n = await next;
    i = 1 - i;
  }
  res.end();
}

/** A single `bytes=` range (the Hub clients ask for one); several, or a malformed one, serve the whole file. */
export function parseRange(header: string | undefined, size: number): [number, number] | 'unsatisfiable' | undefined {
  const m = header ? /^bytes=(\d*)-(\d*)$/.exec(header.trim()) : null;
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const n = Number(m[2]);
    return n === 0 ? 'unsatisfiable' : [Math.max(0, size - n), size - 1];
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return [start, end];
}

function bearer(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  return h?.startsWith('Bearer ') ? h.slice(7) : undefined;
}

async function upstreamJson(url: string, token: string | undefined, body?: Buffer): Promise<{ status: number; json: unknown; headers: Headers; message: string }> {
  let r: Response;
  try {
    r = await fetch(url, {
      method: body ? 'POST' : 'GET',
      redirect: 'manual',
      headers: { accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body } : {}),
    });
  } catch (err) {
    throw new LtrackError('upstream_failed', `cannot reach the upstream: ${err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err)}`);
  }
  const text = await r.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (r.status === 200 && parsed === undefined) throw new LtrackError('upstream_failed', 'the upstream answered something that is not JSON');
  return { status: r.status, json: parsed, headers: r.headers, message: r.headers.get('x-error-message') ?? r.statusText };
}

/** The upstream's refusal (401, 403, 404, …) as the client would have had it. */
function passStatus(res: ServerResponse, r: { status: number; headers: Headers; message: string }): void {
  const code = r.headers.get('x-error-code');
  send(res, r.status >= 400 && r.status < 600 ? r.status : 502, r.message, code ? { 'X-Error-Code': code } : {});
}

function json(res: ServerResponse, body: unknown, headers: Record<string, string>): void {
  const text = JSON.stringify(body);
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(text)), ...headers }).end(text);
}

/** An error answer: X-Error-Message is what the Hub's clients print; one header-safe line. */
function send(res: ServerResponse, status: number, message: string, headers: Record<string, string>): void {
  const line = message.replace(/[^\x20-\x7e]/g, '?').slice(0, 1000);
  const body = JSON.stringify({ error: line });
  res.writeHead(status, { 'Content-Type': 'application/json', 'X-Error-Message': line, 'Content-Length': String(body.length), ...headers }).end(body);
}

function fail(res: ServerResponse, err: unknown): void {
  if (res.headersSent) return void res.destroy();
  const e = err instanceof LtrackError ? err : undefined;
  const status = e?.code === 'bad_input' ? 404 : e?.code === 'upstream_failed' ? 502 : 500;
  send(res, status, e ? e.message : 'internal error', {});
}

function baseUrl(req: IncomingMessage): string {
  return `http://${req.headers.host ?? 'localhost'}`;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > 1 << 20) throw new LtrackError('bad_input', 'request body over 1 MiB');
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}
