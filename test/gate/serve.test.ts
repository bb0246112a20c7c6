import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadFile, snapshotDownload } from '@huggingface/hub';
import { FIXTURES } from '../helpers/fixtures.js';
import { startHub, type HubFile, type HubStandIn } from '../helpers/hub.js';
import { startLtrack } from '../agent/helpers.js';

/**
 * `ltrack gate serve` between real clients (@huggingface/hub, curl) and a Hub stand-in on
 * loopback; the vets behind it are the real ones (sandbox and tracer).
 */
const run = promisify(execFile);
const file = (path: string, content: Buffer | string, extra: Partial<HubFile> = {}): HubFile => ({ path, content: Buffer.from(content), ...extra });
const fixture = (rel: string) => readFileSync(join(FIXTURES, rel));

const benign = [file('config.json', JSON.stringify({ model_type: 'toy' })), file('README.md', '# toy\n'), file('weights/model.pt', fixture('benign/torch_state_dict.pt'))];
const fresh = [file('config.json', '{}'), file('array.npy', fixture('benign/array.npy'))];
const other = [file('config.json', '{"other": true}'), file('data.pkl', fixture('benign/data.pkl'))];

let work: string;
let hub: HubStandIn;
let registry: string;
let quarantine: string;

const startGate = async (extra: string[] = []) => {
  const g = startLtrack(['gate', 'serve', '--listen', '127.0.0.1:0', '--upstream', hub.url, '--registry', registry, '--quarantine', quarantine, ...extra]);
  const url = (await g.waitFor('stderr', /listening on (http:\/\/\S+),/))[1]!;
  return {
    ...g,
    url,
    vetted: () =>
      g
        .stderr()
        .split('\n')
        .filter((l) => / (pass|block|incomplete)( |$)/.test(l)),
  };
};

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lt-gate-serve-'));
  registry = join(work, 'registry');
  quarantine = join(work, 'quarantine');
  hub = await startHub([
    { id: 'org/benign', files: benign },
    { id: 'org/fresh', files: fresh },
    { id: 'org/q1', files: other },
    { id: 'org/q2', files: [file('config.json', '{"q": 2}'), file('array.npy', fixture('benign/array.npy'))] },
    { id: 'org/evil-pickle', files: [file('config.json', '{}'), file('model.pkl', fixture('malicious/system.pkl'))] },
    {
      id: 'org/remote-code',
      files: [file('config.json', JSON.stringify({ auto_map: { AutoModel: 'modeling_toy.ToyModel' } })), file('modeling_toy.py', "import os\nos.system('/bin/true')\nclass ToyModel: pass\n")],
    },
    { id: 'org/tampered', files: [file('config.json', '{}'), file('model.pkl', fixture('benign/data.pkl'), { served: fixture('malicious/system.pkl') })] },
  ]);
});
afterAll(async () => {
  await hub.close();
  await rm(work, { recursive: true, force: true });
});

describe('ltrack gate serve', () => {
  let gate: Awaited<ReturnType<typeof startGate>>;
  beforeAll(async () => {
    gate = await startGate();
  });
  afterAll(async () => {
    gate.child.kill('SIGTERM');
    await gate.exited;
  });

  it('a benign repo downloads through @huggingface/hub byte-identical to upstream, and lands in the registry', async () => {
    const cacheDir = join(work, 'client-cache');
    const snapshot = await snapshotDownload({ repo: 'org/benign', hubUrl: gate.url, cacheDir });
    const commit = hub.commit('org/benign');
    expect(snapshot.endsWith(commit)).toBe(true);
    for (const f of benign) expect((await readFile(join(snapshot, f.path))).equals(f.content), f.path).toBe(true);
    expect(existsSync(join(registry, 'models--org--benign', 'snapshots', commit, 'weights', 'model.pt'))).toBe(true);
    // HF_HUB_OFFLINE=1 loads by the name the client used
    expect(await readFile(join(registry, 'models--org--benign', 'refs', 'main'), 'utf8')).toBe(commit);
    expect(gate.vetted()).toHaveLength(1);
  });

  it('serves the headers the clients read (HEAD and ranges, with curl)', async () => {
    const commit = hub.commit('org/benign');
    const weights = benign[2]!.content;
    const head = (await run('curl', ['-sSI', `${gate.url}/org/benign/resolve/main/weights/model.pt`])).stdout.toLowerCase();
    expect(head).toMatch(/^http\/1\.1 200/);
    expect(head).toContain(`x-repo-commit: ${commit}`);
    expect(head).toMatch(/x-linked-etag: "[0-9a-f]{64}"/);
    expect(head).toContain(`x-linked-size: ${weights.length}`);
    expect(head).toContain(`content-length: ${weights.length}`);
    const part = await run('curl', ['-sS', '-r', '10-19', `${gate.url}/org/benign/resolve/${commit}/weights/model.pt`], { encoding: 'buffer' });
    expect(part.stdout.equals(weights.subarray(10, 20))).toBe(true);
    const small = (await run('curl', ['-sSI', `${gate.url}/org/benign/resolve/main/config.json`])).stdout.toLowerCase();
    expect(small).toMatch(/etag: "[0-9a-f]{40}"/); // the git blob id, as the Hub gives for a non-LFS file
    expect(small).not.toContain('x-linked-etag');
  });

  it.each([
    ['org/evil-pickle', 'model.pkl', /LT-PKL-\d+/],
    ['org/remote-code', 'config.json', /LT-HF-001/],
    ['org/tampered', 'model.pkl', /LT-GATE-001/],
  ])('%s: 403 with the finding in X-Error-Message (curl and @huggingface/hub show it), held in quarantine', async (repo, path, rule) => {
    const r = await run('curl', ['-sS', '-D', '-', '-o', '/dev/null', `${gate.url}/${repo}/resolve/main/${path}`]);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 403/);
    expect(/x-error-message: (.*)/i.exec(r.stdout)?.[1]).toMatch(rule);
    await expect(downloadFile({ repo, path, hubUrl: gate.url })).rejects.toThrow(rule);
    const commit = hub.commit(repo);
    expect(existsSync(join(quarantine, `models--${repo.replace('/', '--')}`, commit, 'report.json'))).toBe(true);
    expect(existsSync(join(registry, `models--${repo.replace('/', '--')}`, 'snapshots'))).toBe(false);
  });

  it('20 clients asking for one unvetted commit at once cause exactly one vet and one download from upstream', async () => {
    const before = gate.vetted().length;
    const npy = fresh[1]!.content;
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => fetch(`${gate.url}/org/fresh/resolve/main/array.npy`).then(async (r) => ({ status: r.status, body: Buffer.from(await r.arrayBuffer()) }))),
    );
    for (const a of answers) {
      expect(a.status).toBe(200);
      expect(a.body.equals(npy)).toBe(true);
    }
    expect(gate.vetted().length - before).toBe(1);
    expect(hub.requests.filter((p) => p.startsWith('/cdn/')).length).toBe(new Set(hub.requests.filter((p) => p.startsWith('/cdn/'))).size); // each blob fetched once
  });

  it('refuses path traversal in repo ids, revisions and file names, and anything that would write', async () => {
    for (const path of [
      '/org/benign/resolve/main/..%2F..%2F.ltrack%2Fmodels--org--benign',
      '/org/benign/resolve/main/../../etc/passwd',
      '/..%2F..%2Fetc/resolve/main/passwd',
      '/api/models/org/benign/revision/..%2F..%2Fmain',
      '/org/benign/resolve/refs%2F..%2F..%2Fx/config.json',
    ]) {
      const r = await run('curl', ['-sS', '--path-as-is', '-o', '/dev/null', '-w', '%{http_code}', `${gate.url}${path}`]);
      expect(r.stdout, path).toBe('404');
    }
    const put = await run('curl', ['-sS', '-X', 'PUT', '-o', '/dev/null', '-w', '%{http_code}', `${gate.url}/org/benign/resolve/main/config.json`]);
    expect(put.stdout).toBe('404');
  });
});

describe('ltrack gate serve, restarted and under load', () => {
  it('keeps its verdicts across a restart: promoted and blocked commits are answered without a new vet', async () => {
    const g = await startGate();
    try {
      const ok = await fetch(`${g.url}/org/benign/resolve/main/config.json`);
      expect(ok.status).toBe(200);
      expect((await ok.text()) === benign[0]!.content.toString()).toBe(true);
      expect((await fetch(`${g.url}/org/evil-pickle/resolve/main/model.pkl`)).status).toBe(403);
      expect(g.vetted()).toEqual([]);
    } finally {
      g.child.kill('SIGTERM');
      await g.exited;
    }
  });

  it('past --queue waiting commits, a client gets 503 with Retry-After; a commit gated before is never queued', async () => {
    const g = await startGate(['--queue', '1']);
    try {
      const first = fetch(`${g.url}/org/q1/resolve/main/config.json`);
      await g.waitFor('stderr', /vetting org\/q1@/);
      const busy = await fetch(`${g.url}/org/q2/resolve/main/config.json`);
      expect(busy.status).toBe(503);
      expect(busy.headers.get('retry-after')).toMatch(/^\d+$/);
      expect((await first).status).toBe(200);
      // room again; and while q2 is vetted, q1 (gated just now) is answered from its record
      const second = fetch(`${g.url}/org/q2/resolve/main/config.json`);
      await g.waitFor('stderr', /vetting org\/q2@/);
      expect((await fetch(`${g.url}/org/q1/resolve/main/config.json`)).status).toBe(200);
      expect((await second).status).toBe(200);
    } finally {
      g.child.kill('SIGTERM');
      await g.exited;
    }
  });
});
