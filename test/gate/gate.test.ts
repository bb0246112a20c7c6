import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scanCacheDir } from '@huggingface/hub';
import type { Report } from '../../src/core/report.js';
import type { GateOutcome } from '../../src/gate/gate.js';
import { ltrack, ltrackAsync } from '../helpers/cli.js';
import { FIXTURES } from '../helpers/fixtures.js';
import { startHub, type HubFile, type HubStandIn } from '../helpers/hub.js';

/**
 * `ltrack gate` end to end: a Hub stand-in on loopback serving fixture repos in the Hub's API
 * shapes, the real CLI, the real sandbox and tracer for the vets that run dynamically.
 */
const file = (path: string, content: Buffer | string, extra: Partial<HubFile> = {}): HubFile => ({ path, content: Buffer.from(content), ...extra });
const fixture = (rel: string) => readFileSync(join(FIXTURES, rel));
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

const TOKEN = 'hf_test_private_token_3c9e';
const benignFiles = () => [
  file('config.json', JSON.stringify({ model_type: 'toy', hidden_size: 4 })),
  file('README.md', '# toy model\n'),
  file('weights/model.pt', fixture('benign/torch_state_dict.pt')),
  file('tokenizer_config.json', readFileSync(join(FIXTURES, 'depth_loaders/snapshot_benign/tokenizer_config.json'))),
];

let work: string;
let hub: HubStandIn;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lt-gate-'));
  expect(ltrack(['key', 'generate', join(work, 'k')]).code).toBe(0);
  hub = await startHub([
    { id: 'org/benign', files: benignFiles() },
    { id: 'org/evil-pickle', files: [file('config.json', '{}'), file('model.pkl', fixture('malicious/system.pkl'))] },
    {
      id: 'org/remote-code',
      files: [
        file('config.json', JSON.stringify({ model_type: 'toy', auto_map: { AutoModel: 'modeling_toy.ToyModel' } })),
        file('modeling_toy.py', "import os\nos.system('/bin/true')\nclass ToyModel: pass\n"),
      ],
    },
    // the mirror serves other bytes than the tree's LFS oid says: the benign file replaced by a payload
    { id: 'org/tampered', files: [file('config.json', '{}'), file('model.pkl', fixture('benign/data.pkl'), { served: fixture('malicious/system.pkl') })] },
    { id: 'org/private', files: [file('config.json', '{}'), file('array.npy', fixture('benign/array.npy'))], token: TOKEN },
  ]);
});
afterAll(async () => {
  await hub.close();
  await rm(work, { recursive: true, force: true });
});

const gate = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
  const r = await ltrackAsync(['gate', ...args, '--format', 'json'], { env: { HF_ENDPOINT: hub.url, HF_TOKEN: '', ...env } });
  return { ...r, outcome: r.stdout ? (JSON.parse(r.stdout) as GateOutcome) : undefined };
};

describe('ltrack gate REPO@REVISION (from the Hub)', () => {
  it('vets a benign repo at its commit and promotes it into an HF cache layout the Hub clients read; the manifest verifies against the snapshot', async () => {
    const reg = join(work, 'reg-benign');
    const r = await gate(['org/benign@main', '--to', reg, '--quarantine', join(work, 'q'), '--sign-key', join(work, 'k.key')]);
    expect(r.code, r.stderr).toBe(0);
    const commit = hub.commit('org/benign');
    expect(r.outcome).toMatchObject({ status: 'pass', repo: 'org/benign', commit, revision: 'main', cached: false });
    expect(r.outcome!.report!.stats.sandbox).toBe('docker'); // the same dynamic path as ltrack vet
    const repoDir = join(reg, 'models--org--benign');
    expect(await readFile(join(repoDir, 'refs', 'main'), 'utf8')).toBe(commit);
    // production resolves refs/main → snapshots/COMMIT/PATH → ../../blobs/ETAG, offline
    for (const f of benignFiles()) {
      const link = join(repoDir, 'snapshots', commit, f.path);
      expect((await readFile(link)).equals(f.content), f.path).toBe(true);
      expect(await readlink(link)).toMatch(/^(\.\.\/)+blobs\/[0-9a-f]{40,64}$/);
    }
    expect(await readlink(join(repoDir, 'snapshots', commit, 'weights/model.pt'))).toBe(`../../../blobs/${sha256(fixture('benign/torch_state_dict.pt'))}`);
    const scan = await scanCacheDir(reg);
    const repo = scan.repos.find((x) => x.id.name === 'org/benign')!;
    expect([...repo.revisions].map((v) => [v.commitOid, [...v.refs]])).toEqual([[commit, ['main']]]);
    expect(await readdir(join(repoDir, 'snapshots'))).toEqual([commit]); // nothing half-built left beside it
    // the signed manifest and the report are kept beside the registry's entry
    const record = join(reg, '.ltrack', 'models--org--benign', commit);
    const verify = ltrack(['manifest', 'verify', join(record, 'manifest.dsse.json'), '--key', join(work, 'k.pub'), '--files', join(repoDir, 'snapshots', commit)]);
    expect(verify.code, verify.stderr + verify.stdout).toBe(0);
    expect((JSON.parse(await readFile(join(record, 'report.json'), 'utf8')) as Report).verdict.status).toBe('pass');
  });

  it('gating the same commit again answers from the record: nothing downloaded, nothing run', async () => {
    const reg = join(work, 'reg-benign');
    const before = hub.requests.filter((p) => p.includes('/resolve/') || p.startsWith('/cdn/')).length;
    const r = await gate(['org/benign', '--to', reg]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.outcome).toMatchObject({ status: 'pass', cached: true });
    expect(hub.requests.filter((p) => p.includes('/resolve/') || p.startsWith('/cdn/')).length).toBe(before);
  });

  it('another rule set (here: more admitted pickle globals) gates the commit again', async () => {
    const globals = join(work, 'globals.toml');
    await writeFile(globals, '[safe]\n"collections" = ["OrderedDict"]\n');
    const r = await gate(['org/benign', '--to', join(work, 'reg-benign'), '--allow-globals', globals, '--static-only']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.outcome).toMatchObject({ status: 'pass', cached: false });
  });

  it.each([
    ['org/evil-pickle', /LT-PKL-\d+/],
    ['org/remote-code', /LT-HF-001/],
  ])('%s is blocked and quarantined with its report; nothing reaches the registry', async (repo, rule) => {
    const reg = join(work, `reg-${repo.split('/')[1]}`);
    const q = join(work, `q-${repo.split('/')[1]}`);
    const r = await gate([repo, '--to', reg, '--quarantine', q]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.outcome!.status).toBe('block');
    expect(r.outcome!.reasons.join('\n')).toMatch(rule);
    const folder = `models--${repo.replace('/', '--')}`;
    expect(existsSync(join(reg, folder, 'snapshots'))).toBe(false);
    const held = join(q, folder, hub.commit(repo));
    expect(existsSync(join(held, 'report.json'))).toBe(true);
    expect(existsSync(join(held, 'files', 'config.json'))).toBe(true);
    // and the block is remembered
    const again = await gate([repo, '--to', reg]);
    expect(again.code).toBe(1);
    expect(again.outcome).toMatchObject({ status: 'block', cached: true });
  });

  it("a file that does not match the tree's LFS oid is a blocking finding; its bytes are never run", async () => {
    const reg = join(work, 'reg-tampered');
    const r = await gate(['org/tampered', '--to', reg, '--quarantine', join(work, 'q-tampered')]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.outcome!.reasons.find((x) => x.startsWith('LT-GATE-001'))).toMatch(
      /^LT-GATE-001 .*model\.pkl as downloaded is \d+ bytes with sha256 [0-9a-f]{64}; the Hub's tree for [0-9a-f]{40} says sha256 [0-9a-f]{64}/,
    );
    expect(r.outcome!.report!.stats.sandbox).toBe('none');
    expect(existsSync(join(reg, 'models--org--tampered', 'snapshots'))).toBe(false);
  });

  it('a private repo needs HF_TOKEN; the token goes to the Hub only, never to the CDN, never into the output', async () => {
    const reg = join(work, 'reg-private');
    const refused = await gate(['org/private', '--to', reg, '--static-only']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/refused access \(401.*HF_TOKEN/);
    const r = await gate(['org/private', '--to', reg, '--static-only'], { HF_TOKEN: TOKEN });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).not.toContain(TOKEN);
    expect(hub.cdnAuthorization).toEqual([]);
  });

  it('an unreachable Hub is incomplete (exit 3), nothing promoted', async () => {
    const r = await gate(['org/benign', '--to', join(work, 'reg-down'), '--endpoint', 'http://127.0.0.1:9']);
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/cannot reach http:\/\/127\.0\.0\.1:9/);
    expect(existsSync(join(work, 'reg-down', 'models--org--benign'))).toBe(false);
  });
});

describe('ltrack gate SNAPSHOT_DIR', () => {
  it('a folder named as a Hub commit the registry holds cannot put other bytes under that commit', async () => {
    const commit = hub.commit('org/benign');
    const fake = join(work, 'fake-cache', 'models--org--benign', 'snapshots', commit);
    await mkdir(fake, { recursive: true });
    await writeFile(join(fake, 'config.json'), '{"model_type": "other"}');
    await writeFile(join(fake, 'array.npy'), fixture('benign/array.npy'));
    const r = await gate([fake, '--to', join(work, 'reg-benign'), '--static-only']);
    expect(r.code, r.stdout).toBe(2);
    expect(r.stderr).toMatch(/already holds other files under this commit; nothing was promoted/);
    expect((await readFile(join(work, 'reg-benign', 'models--org--benign', 'snapshots', commit, 'config.json'))).equals(benignFiles()[0]!.content)).toBe(true);
  });

  it('gates an HF cache snapshot by its own repo and commit, and a plain folder by its content; the user folder is left as it was', async () => {
    // an HF cache entry, as huggingface_hub leaves it: snapshots/COMMIT/* → ../../blobs/*
    const cache = join(work, 'hf-cache', 'models--acme--toy');
    const commit = 'a'.repeat(40);
    await mkdir(join(cache, 'blobs'), { recursive: true });
    await mkdir(join(cache, 'snapshots', commit), { recursive: true });
    for (const f of benignFiles().filter((x) => !x.path.includes('/'))) {
      await writeFile(join(cache, 'blobs', sha256(f.content)), f.content);
      await cp(join(cache, 'blobs', sha256(f.content)), join(cache, 'snapshots', commit, f.path));
    }
    const reg = join(work, 'reg-local');
    const r = await gate([join(cache, 'snapshots', commit), '--to', reg, '--static-only', '--revision', 'v1']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.outcome).toMatchObject({ repo: 'acme/toy', commit, status: 'pass' });
    expect(await readFile(join(reg, 'models--acme--toy', 'refs', 'v1'), 'utf8')).toBe(commit);

    const plain = join(work, 'plain-model');
    await mkdir(plain);
    await writeFile(join(plain, 'config.json'), '{}');
    await writeFile(join(plain, 'model.pkl'), fixture('malicious/system.pkl'));
    const before = await readFile(join(plain, 'model.pkl'));
    const q = join(work, 'q-plain');
    const b = await gate([plain, '--to', reg, '--quarantine', q, '--static-only']);
    expect(b.code, b.stderr).toBe(1);
    expect(b.outcome).toMatchObject({ repo: 'local/plain-model', status: 'block' });
    expect(b.outcome!.commit).toMatch(/^[0-9a-f]{40}$/);
    expect((await readFile(join(plain, 'model.pkl'))).equals(before)).toBe(true); // copied to quarantine, never moved
    expect(existsSync(join(q, 'models--local--plain-model', b.outcome!.commit, 'files', 'model.pkl'))).toBe(true);
    expect(dirname(b.outcome!.quarantined!)).toBe(join(q, 'models--local--plain-model'));
  });
});
