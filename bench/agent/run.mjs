// Agent benchmark (issue 16): what holding a served model to its allowlists costs, measured side
// by side in one run. Run after `bash scripts/bootstrap` (dist/, the addon):
//   node bench/agent/run.mjs [rounds=6] [requests=1000]
// 1. serving: the test model server (test/agent/fixtures/server.py, this host's Python) answers
//    /predict, started plainly and under `ltrack agent --mode enforce` with a vet manifest and a
//    baseline recorded from its own warm-up; time per request, rounds alternating.
// 2. untargeted: ten `python3 -c 'import numpy'` runs that the agent does not hold, with an agent
//    loaded (holding a sleeping process) and without: what every other process on the node pays.
// 3. maps: a manifest of 10,000 libraries (hashed files) and 1,000 peers compiled to kernel maps
//    and swapped into a running session (the SIGHUP path), against the < 1 s target.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { compileAllowlist } from '../../dist/agent/behaviour.js';
import { omsRootDigest } from '../../dist/manifest/build.js';
import { generateKeyPair, signEd25519 } from '../../dist/manifest/index.js';
import { loadRuleSet } from '../../dist/rules/index.js';
import { startTrace } from '../../dist/trace/index.js';

const ROUNDS = Number(process.argv[2] ?? 6);
const REQUESTS = Number(process.argv[3] ?? 1000);
const PYTHON = '/usr/bin/python3';
const SERVER = resolve('test/agent/fixtures/server.py');
const CLI = resolve('dist/bin/ltrack.js');
const work = mkdtempSync(join(tmpdir(), 'lt-bench-agent-'));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
/** Ratios of rounds that alternate which side goes first: their geometric mean cancels the order effect. */
const geomean = (xs) => Math.exp(xs.reduce((s, x) => s + Math.log(x), 0) / xs.length);
const fmt = (x) => x.toFixed(3);

function startProcess(argv, onReady) {
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const ready = new Promise((resolveReady, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      const m = onReady.exec(out);
      if (m) resolveReady(m);
    });
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => reject(new Error(`${argv.join(' ')} ended (${code}) before it was ready: ${err}`)));
  });
  const exited = new Promise((r) => child.on('close', r));
  return { child, ready, exited, stderr: () => err };
}

async function timeRequests(port) {
  const t = process.hrtime.bigint();
  for (let i = 0; i < REQUESTS; i++) {
    const r = await fetch(`http://127.0.0.1:${port}/predict`);
    if ((await r.json()).y !== 1240) throw new Error('wrong answer');
  }
  return Number(process.hrtime.bigint() - t) / 1e6 / REQUESTS;
}

async function serveOnce(agentArgs) {
  const argv = agentArgs ? [process.execPath, CLI, 'agent', ...agentArgs, '--', PYTHON, SERVER, model] : [PYTHON, SERVER, model];
  const p = startProcess(argv, /ready (\d+)/);
  const port = Number((await p.ready)[1]);
  for (let i = 0; i < 20; i++) await fetch(`http://127.0.0.1:${port}/predict`); // warm
  const ms = await timeRequests(port);
  p.child.kill('SIGINT');
  await p.exited;
  return { ms, stderr: p.stderr() };
}

// --- set-up: model, keys, manifest, baseline ---
const models = join(work, 'models');
mkdirSync(models);
const model = join(models, 'model.npy');
execFileSync(PYTHON, ['-c', `import numpy as np; np.save(${JSON.stringify(model)}, np.arange(16, dtype=np.float32))`]);
const vetKey = await generateKeyPair(join(work, 'vet'));
const opKey = await generateKeyPair(join(work, 'op'));
const subject = [{ name: 'model.npy', digest: { sha256: createHash('sha256').update(readFileSync(model)).digest('hex') } }];
const now = Date.now();
const statement = {
  _type: 'https://in-toto.io/Statement/v1',
  subject,
  predicateType: 'https://ltrack.dev/allowlist/v1',
  predicate: {
    allow: { filesRead: [], librariesMapped: [], exec: [], network: [] },
    packages: [],
    rulesetDigest: (await loadRuleSet()).digest,
    verdict: 'pass',
    forced: false,
    tool: { name: 'ltrack', version: '0.0.0' },
    issuedAt: new Date(now - 60_000).toISOString(),
    expiresAt: new Date(now + 86_400_000).toISOString(),
    omsRootDigest: omsRootDigest(subject),
  },
};
const manifest = join(work, 'manifest.json');
writeFileSync(manifest, JSON.stringify(signEd25519(statement, readFileSync(vetKey.privatePath, 'utf8'))));
const baseline = join(work, 'baseline.json');
{
  const rec = startProcess([process.execPath, CLI, 'agent', 'baseline', '--out', baseline, '--sign-key', opKey.privatePath, '--', PYTHON, SERVER, model], /ready (\d+)/);
  const port = Number((await rec.ready)[1]);
  for (let i = 0; i < 20; i++) await fetch(`http://127.0.0.1:${port}/predict`);
  rec.child.kill('SIGINT');
  await rec.exited;
}
const agentArgs = [manifest, '--key', vetKey.publicPath, '--models', models, '--baseline', baseline, '--baseline-key', opKey.publicPath];

// --- 1. serving ---
const plain = [];
const held = [];
const ratios = [];
for (let r = 0; r < ROUNDS; r++) {
  // which goes first alternates: the second run of a round finds warmer caches
  const [a, b] = r % 2 === 0 ? [await serveOnce(undefined), await serveOnce(agentArgs)] : await serveOnce(agentArgs).then(async (held1) => [await serveOnce(undefined), held1]);
  const actions = /(\d+) action\(s\)/.exec(b.stderr)?.[1];
  if (actions !== '0') throw new Error(`the agent took ${actions} action(s) on a clean server: ${b.stderr}`);
  plain.push(a.ms);
  held.push(b.ms);
  ratios.push(b.ms / a.ms);
}
console.log(
  `serving: ${REQUESTS} requests x ${ROUNDS} rounds; ms/request plain ${fmt(median(plain))}, under the agent (enforce) ${fmt(median(held))}; ratio ${fmt(geomean(ratios))} (geometric mean of rounds alternating order: ${ratios.map(fmt).join(' ')}); target <= 1.03`,
);

// --- 2. untargeted workload ---
function workload() {
  const t = process.hrtime.bigint();
  for (let i = 0; i < 10; i++) execFileSync(PYTHON, ['-c', 'import numpy']);
  return Number(process.hrtime.bigint() - t) / 1e6;
}
const idle = spawn('sleep', ['3600']);
const untargeted = [];
for (let r = 0; r < ROUNDS; r++) {
  const without = r % 2 === 0 ? workload() : undefined;
  const agent = startProcess([process.execPath, CLI, 'agent', '--baseline', baseline, '--key', opKey.publicPath, '--pid', String(idle.pid)], /^never$/);
  agent.ready.catch(() => undefined); // it never prints on stdout
  await new Promise((r2) => {
    agent.child.stderr.on('data', (d) => {
      if (/enforcing/.test(String(d))) r2();
    });
  });
  const withAgent = workload();
  agent.child.kill('SIGTERM');
  await agent.exited;
  untargeted.push(withAgent / (without ?? workload()));
}
idle.kill();
console.log(`untargeted: 10 x python3 -c 'import numpy', agent loaded vs not: ratio ${fmt(geomean(untargeted))} (geometric mean) (${untargeted.map(fmt).join(' ')}); target <= 1.02`);

// --- 3. manifest -> maps ---
const libs = join(work, 'libs');
mkdirSync(libs);
const libraries = [];
for (let i = 0; i < 10_000; i++) {
  const path = join(libs, `lib${i}.so`);
  const bytes = `library ${i}`;
  writeFileSync(path, bytes);
  libraries.push({ path, sha256: createHash('sha256').update(bytes).digest('hex') });
}
const network = Array.from({ length: 1000 }, (_, i) => ({ addr: `10.0.${i >> 8}.${i & 255}`, prefix: 32, port: 443 }));
const behaviour = { source: 'manifest', origin: 'bench', exec: ['/usr/bin/true'], libraries, network, reads: [] };
const compileMs = [];
const swapMs = [];
for (let r = 0; r < ROUNDS; r++) {
  const t0 = process.hrtime.bigint();
  const compiled = await compileAllowlist([behaviour]);
  const t1 = process.hrtime.bigint();
  if (compiled.problems.length > 0) throw new Error(compiled.problems[0].reason);
  const session = await startTrace({ pid: idle.pid ?? process.pid }, { mode: 'enforce', allowlist: { execPaths: [], libraryPaths: [], libraryInodes: [], connect: [] } });
  const t2 = process.hrtime.bigint();
  session.replaceAllowlist(compiled.kernel);
  const t3 = process.hrtime.bigint();
  await session.stop();
  compileMs.push(Number(t1 - t0) / 1e6);
  swapMs.push(Number(t3 - t2) / 1e6);
}
const total = compileMs.map((c, i) => c + swapMs[i]);
console.log(
  `maps: 10,000 libraries (hashed) + 1,000 peers: compile ${fmt(median(compileMs) / 1000)} s, into the kernel maps ${fmt(median(swapMs) / 1000)} s, total median ${fmt(median(total) / 1000)} s (${total.map((t) => fmt(t / 1000)).join(' ')}); target < 1 s`,
);
rmSync(work, { recursive: true, force: true });
