import { execFile, spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, signEd25519, type Statement } from '../../src/manifest/index.js';
import { loadRuleSet } from '../../src/rules/index.js';
import { ltrack } from '../helpers/cli.js';
import { loadedProgIds, ownedProgIds, PYTHON } from '../trace/helpers.js';
import { actionsIn, get, SERVER, startLtrack, statementFor } from './helpers.js';
import { testSigstore } from '../helpers/sigstore.js';

/**
 * `ltrack agent` on the real kernel: a model server on this host's Python (not the sandbox image's)
 * is held to a signed vet manifest plus a signed baseline recorded from its own warm-up. Each case
 * asks the server for one behaviour and checks what the kernel did and what the agent reported.
 */

const run = promisify(execFile);
let work: string;
let models: string;
let vetKey: { privatePath: string; publicPath: string };
let opKey: { privatePath: string; publicPath: string };
let otherKey: { privatePath: string; publicPath: string };
let baseline: string;
let rulesetDigest: string;
let modelSha: string;
/** Ports nothing listens on: allowed, a connect is refused (111); unlisted, it is denied (EPERM, 1). */
const LISTED_PORT = 7;
const UNLISTED_PORT = 9;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lt-agent-'));
  models = join(work, 'models');
  await mkdir(models);
  // the model: 16 float32 weights in numpy's own format (no pickle)
  await run(PYTHON, ['-c', `import numpy as np; np.save(${JSON.stringify(join(models, 'model.npy'))}, np.arange(16, dtype=np.float32))`]);
  modelSha = createHash('sha256')
    .update(await readFile(join(models, 'model.npy')))
    .digest('hex');
  rulesetDigest = (await loadRuleSet()).digest;
  vetKey = await generateKeyPair(join(work, 'vet'));
  opKey = await generateKeyPair(join(work, 'operator'));
  otherKey = await generateKeyPair(join(work, 'other'));

  // The operator's baseline: a warm-up of the server with the vetted model, five requests, then SIGINT.
  baseline = join(work, 'baseline.json');
  const rec = startLtrack(['agent', 'baseline', '--out', baseline, '--sign-key', opKey.privatePath, '--days', '2', '--', PYTHON, SERVER, join(models, 'model.npy')]);
  const port = Number((await rec.waitFor('stdout', /ready (\d+)/))[1]);
  for (let i = 0; i < 5; i++) expect(await get(port, '/predict')).toEqual({ y: 1240 });
  rec.child.kill('SIGINT');
  expect(await rec.exited, rec.stderr()).toBe(0);
  expect(rec.stdout()).toMatch(/baseline written: 1 program\(s\), \d+ libraries/);
  await writeManifest('narrow.json', narrow());
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function writeManifest(name: string, st: Statement, key = vetKey.privatePath): Promise<string> {
  const path = join(work, name);
  await writeFile(path, JSON.stringify(signEd25519(st, await readFile(key, 'utf8'))));
  return path;
}

const narrow = () => statementFor([{ name: 'model.npy', sha256: modelSha }], rulesetDigest);
const wide = () =>
  statementFor([{ name: 'model.npy', sha256: modelSha }], rulesetDigest, {
    exec: [{ path: '/usr/bin/true', argv: ['/usr/bin/true'] }],
    network: [{ kind: 'connect', family: 'inet', addr: '127.0.0.1', port: LISTED_PORT }],
  });

/** A loopback port nothing listens on now. */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise((r) => srv.close(r));
  return port;
}

/** The allowlists every case holds the server to: a vet manifest of `folder` and the server's baseline. */
const allowlists = (manifest: string, folder = models) => [manifest, '--key', vetKey.publicPath, '--models', folder, '--baseline', baseline, '--baseline-key', opKey.publicPath];

/** Starts the agent on the server; resolves once the server answers. */
async function serve(manifest: string, extra: string[] = [], folder = models) {
  const events = join(work, `events-${Math.random().toString(36).slice(2)}.jsonl`);
  const agent = startLtrack(['agent', ...allowlists(manifest, folder), '--events', events, ...extra, '--', PYTHON, SERVER, join(folder, 'model.npy')]);
  const port = Number((await agent.waitFor('stdout', /ready (\d+)/))[1]);
  return { agent, port, events };
}

describe('ltrack agent refuses to start on an allowlist it cannot trust', () => {
  it.each([
    [
      'tampered',
      async () => {
        const env = JSON.parse(await readFile(await writeManifest('t.json', wide()), 'utf8')) as { payload: string };
        const st = JSON.parse(Buffer.from(env.payload, 'base64').toString()) as Statement;
        st.predicate.allow.exec.push({ path: '/bin/sh', argv: [] });
        env.payload = Buffer.from(JSON.stringify(st)).toString('base64');
        const path = join(work, 'tampered.json');
        await writeFile(path, JSON.stringify(env));
        return path;
      },
      /signature does not verify/,
    ],
    [
      'expired',
      () => writeManifest('expired.json', statementFor([{ name: 'model.npy', sha256: modelSha }], rulesetDigest, {}, { expiresAt: new Date(Date.now() - 1000).toISOString() })),
      /expired at/,
    ],
    ['wrong-key', () => writeManifest('wrongkey.json', narrow(), otherKey.privatePath), /signature does not verify/],
    [
      'forced',
      () => writeManifest('forced.json', statementFor([{ name: 'model.npy', sha256: modelSha }], rulesetDigest, {}, { forced: true, verdict: 'block' })),
      /forced for a vet that did not pass/,
    ],
    ['other rules', () => writeManifest('rules.json', statementFor([{ name: 'model.npy', sha256: modelSha }], 'f'.repeat(64))), /rule set changed/],
    ['other model', () => writeManifest('model.json', statementFor([{ name: 'model.npy', sha256: 'e'.repeat(64) }], rulesetDigest)), /model file changed: model\.npy/],
  ])('%s manifest: exit 1, one line naming the file and the reason, nothing runs', async (_name, make, reason) => {
    const manifest = await make();
    const canary = join(work, `never-${_name}`);
    const r = ltrack(['agent', manifest, '--key', vetKey.publicPath, '--models', models, '--', '/usr/bin/touch', canary]);
    expect(r.code, r.stderr).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(manifest);
    expect(lines[0]).toMatch(reason);
    await expect(readFile(canary)).rejects.toThrow();
  });

  it('a forced manifest starts with --allow-forced', () => {
    const path = join(work, 'forced.json');
    const r = ltrack(['agent', ...allowlists(path), '--allow-forced', '--', PYTHON, '-c', 'pass']);
    expect(r.code, r.stderr).toBe(0);
  });

  it('bad usage exits 2: no target, two targets, a manifest without its model folder', () => {
    const m = join(work, 'wrongkey.json');
    expect(ltrack(['agent', m, '--key', vetKey.publicPath, '--models', models]).code).toBe(2);
    expect(ltrack(['agent', m, '--key', vetKey.publicPath, '--models', models, '--pid', '1', '--', '/bin/true']).code).toBe(2);
    expect(ltrack(['agent', m, '--key', vetKey.publicPath, '--', '/bin/true']).code).toBe(2);
    expect(ltrack(['agent', m, '--key', vetKey.publicPath, '--models', models, '--mode', 'strict', '--', '/bin/true']).code).toBe(2);
  });
});

describe('ltrack agent with keyless (Sigstore) manifests', () => {
  it('starts on a bundle signed by the named identity and issuer under the trusted root; refuses another identity, another issuer, a tampered payload', async () => {
    const dir = join(work, 'sigstore');
    await mkdir(dir);
    const sigstore = testSigstore(dir);
    const root = join(dir, 'trusted_root.json');
    await writeFile(root, JSON.stringify(sigstore.trustedRoot));
    const payload = Buffer.from(JSON.stringify(narrow()));
    const write = async (name: string, bundle: object) => {
      const path = join(dir, name);
      await writeFile(path, JSON.stringify(bundle));
      return path;
    };
    const ci = 'https://github.com/acme/models/.github/workflows/vet.yml@refs/heads/main';
    const issuer = 'https://token.actions.githubusercontent.com';
    const good = await write('good.sigstore.json', sigstore.bundle(payload, ci, issuer));
    const keyless = (manifest: string) => [
      'agent',
      manifest,
      '--certificate-identity',
      ci,
      '--certificate-oidc-issuer',
      issuer,
      '--trusted-root',
      root,
      '--models',
      models,
      '--baseline',
      baseline,
      '--baseline-key',
      opKey.publicPath,
      '--',
      PYTHON,
      '-c',
      'pass',
    ];
    const ok = ltrack(keyless(good));
    expect(ok.code, ok.stderr).toBe(0);

    const cases: [string, object, RegExp][] = [
      ['other-identity', sigstore.bundle(payload, 'https://github.com/evil/fork/.github/workflows/vet.yml@refs/heads/main', issuer), /certificate identity error/],
      ['other-issuer', sigstore.bundle(payload, ci, 'https://accounts.example.com'), /issuer/],
      [
        'tampered',
        {
          ...(sigstore.bundle(payload, ci, issuer) as { dsseEnvelope: object }),
          dsseEnvelope: { ...(sigstore.bundle(payload, ci, issuer) as { dsseEnvelope: object }).dsseEnvelope, payload: Buffer.from(JSON.stringify(wide())).toString('base64') },
        },
        /keyless signature refused/,
      ],
    ];
    for (const [name, bundle, reason] of cases) {
      const path = await write(`${name}.sigstore.json`, bundle);
      const r = ltrack(keyless(path));
      expect(r.code, `${name}: ${r.stderr}`).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(path);
      expect(r.stderr).toMatch(reason);
    }
    // all three flags, or none
    expect(ltrack(['agent', good, '--certificate-identity', ci, '--models', models, '--', '/bin/true']).code).toBe(2);
  });
});

describe('ltrack agent enforcing on a served model', () => {
  it('serves 100 requests with no action, then kills 1,000 of 1,000 execs of /bin/sh before they write, and denies an unlisted peer', async () => {
    const { agent, port, events } = await serve(join(work, 'narrow.json'));
    for (let i = 0; i < 100; i++) expect(await get(port, '/predict')).toEqual({ y: 1240 });
    const canary = join(work, 'sh-canary');
    const shells = await get(port, `/exec?n=1000&arg=/bin/sh&arg=-c&arg=${encodeURIComponent(`touch ${canary}`)}`);
    expect(shells).toEqual({ codes: [-9], killed: 1000 });
    await expect(readFile(canary)).rejects.toThrow();
    expect(await get(port, `/connect?port=${UNLISTED_PORT}`)).toEqual({ errno: 1 }); // EPERM
    expect(await get(port, '/predict')).toEqual({ y: 1240 }); // the server lives on
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(143); // the server's own status: it got the SIGTERM
    const actions = await actionsIn(events);
    const kills = actions.filter((a) => a.ruleId === 'LT-AGT-001');
    expect(kills).toHaveLength(1000);
    expect(kills.every((a) => a.action === 'killed' && a.mode === 'enforce' && a.event.path === '/usr/bin/dash')).toBe(true);
    expect(kills[0]!.missing).toEqual(['manifest', 'baseline']);
    const denials = actions.filter((a) => a.ruleId === 'LT-AGT-003');
    expect(denials.map((a) => [a.action, a.event.port])).toEqual([['denied', UNLISTED_PORT]]);
    // nothing else: the 100 requests and the server's own start-up took no action
    expect(actions).toHaveLength(1001);
    expect(agent.stderr()).toMatch(/stopped: \d+ event\(s\), 1001 action\(s\)\n/);
  });

  it('kills a dlopen of a library no allowlist admits (a copy: same bytes, new inode) before its code runs', async () => {
    const copy = join(work, 'libcopy.so');
    await copyFile('/usr/lib/x86_64-linux-gnu/libbz2.so.1.0', copy);
    const { agent, port, events } = await serve(join(work, 'narrow.json'));
    expect(await get(port, `/dlopen?path=${encodeURIComponent(copy)}`)).toBeUndefined();
    expect(await agent.exited).toBe(137); // SIGKILL
    const actions = await actionsIn(events);
    // the loader opens the file before it maps it: a read outside the read prefixes (reported), then the kill
    expect(actions.map((a) => [a.ruleId, a.action, a.event.path])).toEqual([
      ['LT-AGT-004', 'alerted', copy],
      ['LT-AGT-002', 'killed', copy],
    ]);
  });

  it('SIGHUP reloads a wider manifest: what it adds goes through; a reload that fails verification changes nothing', async () => {
    const manifest = join(work, 'reload.json');
    await writeFile(manifest, await readFile(join(work, 'narrow.json')));
    const { agent, port, events } = await serve(manifest);
    expect(await get(port, '/exec?arg=/usr/bin/true')).toEqual({ codes: [-9], killed: 1 });
    expect(await get(port, `/connect?port=${LISTED_PORT}`)).toEqual({ errno: 1 });

    await writeManifest('reload.json', wide());
    agent.child.kill('SIGHUP');
    await agent.waitFor('stderr', /SIGHUP: allowlists re-verified and reloaded/);
    expect(await get(port, '/exec?arg=/usr/bin/true')).toEqual({ codes: [0], killed: 0 });
    expect(await get(port, `/connect?port=${LISTED_PORT}`)).toEqual({ errno: 111 }); // allowed: refused by nobody listening
    expect(await get(port, `/connect?port=${UNLISTED_PORT}`)).toEqual({ errno: 1 });

    await writeManifest('reload.json', narrow(), otherKey.privatePath);
    agent.child.kill('SIGHUP');
    await agent.waitFor('stderr', /SIGHUP: reload refused, the allowlists in force stay: .*signature does not verify/);
    expect(await get(port, '/exec?arg=/usr/bin/true')).toEqual({ codes: [0], killed: 0 });

    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(143);
    const actions = await actionsIn(events);
    expect(actions.map((a) => [a.ruleId, a.action])).toEqual([
      ['LT-AGT-001', 'killed'],
      ['LT-AGT-003', 'denied'],
      ['LT-AGT-003', 'denied'],
    ]);
  });

  it('observe mode takes no action and reports each case as what enforce would have done', async () => {
    const copy = join(work, 'libcopy-observe.so');
    await copyFile('/usr/lib/x86_64-linux-gnu/libbz2.so.1.0', copy);
    const { agent, port, events } = await serve(join(work, 'narrow.json'), ['--mode', 'observe']);
    const canary = join(work, 'observe-canary');
    expect(await get(port, `/exec?arg=/bin/sh&arg=-c&arg=${encodeURIComponent(`touch ${canary}`)}`)).toEqual({ codes: [0], killed: 0 });
    expect((await readdir(work)).includes('observe-canary')).toBe(true);
    expect(await get(port, `/connect?port=${UNLISTED_PORT}`)).toEqual({ errno: 111 });
    expect(await get(port, `/dlopen?path=${encodeURIComponent(copy)}`)).toEqual({ loaded: true });
    agent.child.kill('SIGINT');
    expect(await agent.exited).toBe(0); // the server handles SIGINT and exits 0
    const actions = await actionsIn(events);
    const byRule = (id: string) => actions.filter((a) => a.ruleId === id).map((a) => [a.action, a.mode]);
    expect(byRule('LT-AGT-001')).toContainEqual(['killed', 'observe']);
    expect(byRule('LT-AGT-003')).toEqual([['denied', 'observe']]);
    expect(byRule('LT-AGT-002')).toEqual([['killed', 'observe']]);
    expect(actions.every((a) => a.reason.startsWith('would have '))).toBe(true);
  });

  it('SIGTERM detaches: none of the agent programs is left in the kernel, and the process it followed lives on', async () => {
    const server = spawn(PYTHON, [SERVER, join(models, 'model.npy')], { stdio: ['ignore', 'pipe', 'inherit'] });
    const port = await new Promise<number>((resolve) => server.stdout.on('data', (d: Buffer) => resolve(Number(/ready (\d+)/.exec(d.toString())?.[1]))));
    const agent = startLtrack(['agent', ...allowlists(join(work, 'narrow.json')), '--pid', String(server.pid)]);
    await agent.waitFor('stderr', /enforcing 1 manifest\(s\) and 1 baseline\(s\) on pid/);
    const progs = await ownedProgIds(agent.child.pid!);
    expect(progs.size).toBeGreaterThan(5);
    expect(await get(port, '/exec?arg=/usr/bin/true')).toEqual({ codes: [-9], killed: 1 });
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
    const loaded = await loadedProgIds();
    expect([...progs].filter((id) => loaded.has(id))).toEqual([]);
    // detached: the server is no longer held
    expect(await get(port, '/exec?arg=/usr/bin/true')).toEqual({ codes: [0], killed: 0 });
    server.kill('SIGKILL');
  });

  it('a model file replaced on disk after start: the server is killed at the open, before it reads, and the file is quarantined with a note', async () => {
    const folder = join(work, 'models-swap');
    const quarantine = join(work, 'quarantine-swap');
    await mkdir(folder);
    await copyFile(join(models, 'model.npy'), join(folder, 'model.npy'));
    const { agent, port, events } = await serve(join(work, 'narrow.json'), ['--quarantine', quarantine], folder);
    expect(await get(port, '/load')).toEqual({ sum: 120 });
    // the attacker's model, renamed over the vetted one (a new inode at the same path)
    await run(PYTHON, ['-c', `import numpy as np; np.save(${JSON.stringify(join(work, 'evil.npy'))}, np.full(16, 7, dtype=np.float32))`]);
    await rename(join(work, 'evil.npy'), join(folder, 'model.npy'));
    expect(await get(port, '/load')).toBeUndefined(); // killed on its way back from open(2)
    expect(await agent.exited).toBe(137);
    const actions = await actionsIn(events);
    expect(actions.find((a) => a.ruleId === 'LT-AGT-006')).toMatchObject({ action: 'killed', mode: 'enforce', event: { path: join(folder, 'model.npy') } });
    const moved = actions.find((a) => a.ruleId === 'LT-AGT-005');
    expect(moved).toMatchObject({ action: 'quarantined', file: { path: join(folder, 'model.npy'), expected: modelSha } });
    // the file is out of the model folder, unreadable, with a note of both digests
    expect(await readdir(folder)).toEqual([]);
    const to = moved!.file!.quarantinedTo!;
    expect((await stat(to)).mode & 0o777).toBe(0);
    const note = JSON.parse(await readFile(`${to}.json`, 'utf8')) as Record<string, string>;
    expect(note).toMatchObject({ path: join(folder, 'model.npy'), expectedSha256: modelSha, foundSha256: moved!.file!.found });
    expect(note.foundSha256).not.toBe(modelSha);
  });

  it('a model file held open for writing is not readable by the server until the writer is done and its bytes are checked', async () => {
    const folder = join(work, 'models-write');
    await mkdir(folder);
    const file = join(folder, 'model.npy');
    await copyFile(join(models, 'model.npy'), file);
    const { agent, port, events } = await serve(join(work, 'narrow.json'), [], folder);
    // a writer opens the file and holds it: the kernel marks it suspect at the open
    const writer = await open(file, 'r+');
    await agent.waitFor('stderr', /enforcing/);
    expect(await get(port, '/load')).toBeUndefined();
    expect(await agent.exited).toBe(137);
    await writer.close();
    const actions = await actionsIn(events);
    expect(actions.map((a) => [a.ruleId, a.action])).toEqual([['LT-AGT-006', 'killed']]);
  });

  it('--pin keeps enforcing with the agent killed (SIGKILL), and an agent started again with --pin adopts the programs', async () => {
    const pin = `/sys/fs/bpf/lt-test-${process.pid}-${Date.now()}`;
    const server = spawn(PYTHON, [SERVER, join(models, 'model.npy')], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const port = await new Promise<number>((resolve) => server.stdout.on('data', (d: Buffer) => resolve(Number(/ready (\d+)/.exec(d.toString())?.[1]))));
      const args = [...allowlists(join(work, 'narrow.json')), '--pid', String(server.pid), '--pin', pin];
      const first = startLtrack(['agent', ...args]);
      await first.waitFor('stderr', /pinned:/);
      first.child.kill('SIGKILL');
      await first.exited;
      // nothing in user space any more: the kernel keeps killing
      expect(await get(port, '/exec?arg=/usr/bin/true')).toEqual({ codes: [-9], killed: 1 });
      const generations = await readdir(pin);
      expect(generations).toHaveLength(1);

      const events = join(work, 'events-pin.jsonl');
      const second = startLtrack(['agent', ...args, '--events', events]);
      await second.waitFor('stderr', /adopted 1 earlier generation/);
      const now = await readdir(pin);
      expect(now).toHaveLength(1);
      expect(now[0]).not.toBe(generations[0]);
      expect(await get(port, '/exec?arg=/usr/bin/true')).toEqual({ codes: [-9], killed: 1 });
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
      expect((await actionsIn(events)).map((a) => [a.ruleId, a.action])).toEqual([['LT-AGT-001', 'killed']]);
      // stopped with --pin, the programs stay; removing the folder detaches them
      expect(await get(port, '/exec?arg=/usr/bin/true')).toEqual({ codes: [-9], killed: 1 });
      await rm(pin, { recursive: true });
      expect(await get(port, '/exec?arg=/usr/bin/true')).toEqual({ codes: [0], killed: 0 });
    } finally {
      server.kill('SIGKILL');
      await rm(pin, { recursive: true, force: true });
    }
  });

  it('--metrics serves the actions, events, tiers, manifest expiry and model integrity as Prometheus metrics, and /healthz', async () => {
    const { agent, port } = await serve(join(work, 'narrow.json'), ['--metrics', '127.0.0.1:0']);
    const url = (await agent.waitFor('stderr', /metrics on (http:\/\/127\.0\.0\.1:\d+\/metrics)/))[1]!;
    expect(await get(port, '/exec?arg=/usr/bin/true')).toEqual({ codes: [-9], killed: 1 });
    await agent.waitFor('stderr', /enforcing/);
    // the action reaches the metrics once the agent has read the kernel's event: poll briefly
    let text = '';
    for (let i = 0; i < 50 && !text.includes('LT-AGT-001'); i++) {
      text = await (await fetch(url)).text();
      if (!text.includes('LT-AGT-001')) await new Promise((r) => setTimeout(r, 100));
    }
    expect(text).toContain('ltrack_agent_actions_total{rule_id="LT-AGT-001",action="killed",mode="enforce"} 1');
    expect(text).toContain('ltrack_agent_enforcement_tier_info{kind="exec",tier="kill:bpf_send_signal"} 1');
    expect(text).toMatch(/ltrack_agent_events_total\{kind="exec"\} [1-9]/);
    expect(text).toMatch(new RegExp(`ltrack_agent_manifest_expiry_timestamp_seconds\\{manifest="${join(work, 'narrow.json').replace(/[.]/g, '\\.')}"\\} \\d+`));
    expect(text).toContain(`ltrack_agent_model_integrity_state{file="${join(models, 'model.npy')}",state="ok"} 1`);
    expect(text).toMatch(/ltrack_agent_build_info\{version="[^"]+"\} 1/);
    expect(text).toMatch(/^process_start_time_seconds \d+$/m);
    expect((await fetch(url.replace('/metrics', '/healthz'))).status).toBe(200);
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(143);
  });

  it('the real Prometheus scrapes the agent and a PromQL query sees the kill; promtool accepts the exposition', async () => {
    const { agent, port } = await serve(join(work, 'narrow.json'), ['--metrics', '127.0.0.1:0']);
    const url = new URL((await agent.waitFor('stderr', /metrics on (http:\/\/\S+\/metrics)/))[1]!);
    const promDir = join(work, 'prometheus');
    await mkdir(promDir);
    const promPort = await freePort();
    await writeFile(join(promDir, 'prometheus.yml'), `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: ltrack-agent\n    static_configs:\n      - targets: ['${url.host}']\n`);
    const prom = spawn('prometheus', [`--config.file=${join(promDir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(promDir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let promLog = '';
    prom.stderr.on('data', (d: Buffer) => (promLog = (promLog + d.toString()).slice(-4000)));
    try {
      expect(await get(port, '/exec?arg=/usr/bin/true')).toEqual({ codes: [-9], killed: 1 });
      const query = `http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent('sum(ltrack_agent_actions_total{rule_id="LT-AGT-001",action="killed"})')}`;
      let value: string | undefined;
      for (let i = 0; i < 150 && value !== '1'; i++) {
        // while it starts, Prometheus answers 503 "Service Unavailable" (not JSON): keep asking
        const r = await fetch(query)
          .then((x) => (x.ok ? (x.json() as Promise<{ data?: { result?: { value: [number, string] }[] } }>) : undefined))
          .catch(() => undefined);
        value = r?.data?.result?.[0]?.value[1];
        if (value !== '1') await new Promise((res) => setTimeout(res, 200));
      }
      expect(value, `prometheus said:\n${promLog}\nagent said:\n${agent.stderr()}`).toBe('1');
      const exposition = await (await fetch(url)).text();
      const check = spawnSync('promtool', ['check', 'metrics'], { input: exposition, encoding: 'utf8' });
      expect(check.status, check.stdout + check.stderr).toBe(0);
    } finally {
      prom.kill('SIGTERM');
      agent.child.kill('SIGTERM');
      await agent.exited;
    }
  });

  it('what no allowlist describes is reported by the vet rules: a persistence write and a memfd_create are alerts naming the rule', async () => {
    const { agent, port, events } = await serve(join(work, 'narrow.json'));
    const pth = join(work, 'evil.pth');
    expect(await get(port, `/write?path=${encodeURIComponent(pth)}`)).toEqual({ written: true });
    expect(await get(port, '/memfd')).toMatchObject({ fd: expect.any(Number) as number });
    expect(await get(port, '/predict')).toEqual({ y: 1240 });
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(143);
    const actions = await actionsIn(events);
    expect(actions.filter((a) => a.event.path === pth).map((a) => [a.ruleId, a.action])).toContainEqual(['LT-FILE-007', 'alerted']);
    const memfd = actions.filter((a) => a.ruleId === 'LT-PRIV-003');
    expect(memfd.map((a) => [a.action, a.event.kind])).toEqual([['alerted', 'memfd_create']]);
    expect(memfd[0]!.reason).toContain("the vet's action: kill");
  });

  it('--landlock: the command is confined before it runs; an unlisted program and a read outside the prefixes are refused (EACCES), the read reported as denied', async () => {
    const { agent, port, events } = await serve(join(work, 'narrow.json'), ['--landlock']);
    await agent.waitFor('stderr', /exec prevent:landlock\+kill:bpf_send_signal, .*file_open prevent:landlock/);
    for (let i = 0; i < 20; i++) expect(await get(port, '/predict')).toEqual({ y: 1240 }); // the positive control
    expect(await get(port, '/load')).toEqual({ sum: 120 }); // the model is readable
    const canary = join(work, 'landlock-canary');
    expect(await get(port, `/exec?n=10&arg=/bin/sh&arg=-c&arg=${encodeURIComponent(`touch ${canary}`)}`)).toEqual({ codes: [], killed: 0, refused: 10 });
    await expect(readFile(canary)).rejects.toThrow();
    const secret = join(work, 'secret.txt');
    await writeFile(secret, 'not for the model');
    expect(await get(port, `/read?path=${encodeURIComponent(secret)}`)).toEqual({ errno: 13 });
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(143);
    const actions = await actionsIn(events);
    expect(actions.map((a) => [a.ruleId, a.action, a.event.path])).toEqual([['LT-AGT-004', 'denied', secret]]);
  });

  it('a library admitted by its digest and rewritten in place (same inode) becomes unreadable to the server: the change is reported, the next open killed', async () => {
    const lib = join(work, 'libguarded.so');
    await copyFile('/usr/lib/x86_64-linux-gnu/libbz2.so.1.0', lib);
    const sha256 = createHash('sha256')
      .update(await readFile(lib))
      .digest('hex');
    const manifest = await writeManifest('with-lib.json', statementFor([{ name: 'model.npy', sha256: modelSha }], rulesetDigest, { librariesMapped: [{ path: lib, sha256 }] }));
    const { agent, port, events } = await serve(manifest);
    expect(await get(port, `/dlopen?path=${encodeURIComponent(lib)}`)).toEqual({ loaded: true }); // admitted: its inode hashed to the signed digest
    // rewritten where it lies: the inode the kernel admits is unchanged, its bytes are not
    const fh = await open(lib, 'r+');
    await fh.write(Buffer.from([0xcc]), 0, 1, 4096);
    await fh.close();
    await agent.waitFor('stderr', /enforcing/);
    let actions = await actionsIn(events);
    for (let i = 0; i < 100 && !actions.some((a) => a.ruleId === 'LT-AGT-007'); i++) {
      await new Promise((r) => setTimeout(r, 100));
      actions = await actionsIn(events);
    }
    expect(actions.find((a) => a.ruleId === 'LT-AGT-007')).toMatchObject({ action: 'alerted', file: { path: lib, expected: sha256 } });
    expect(await get(port, `/read?path=${encodeURIComponent(lib)}`)).toBeUndefined();
    expect(await agent.exited).toBe(137);
    expect((await actionsIn(events)).find((a) => a.ruleId === 'LT-AGT-006')).toMatchObject({ action: 'killed', event: { path: lib } });
  });
});
