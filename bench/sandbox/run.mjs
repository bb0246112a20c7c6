// Sandbox benchmark (issue 5): prints ratios measured side by side in one run. Run after
// `bash scripts/bootstrap` (it needs dist/, the image and the fixtures):
//   node bench/sandbox/run.mjs [rounds=5]
// Per driver and round: ltrack's sandboxed load of a small torch model (lockdown, the harness's
// phases, tracing off), the same with the tracer attached as `ltrack vet` does it, and a bare run
// of the same image that only imports torch and loads the model.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { runSandbox, requireImage } from '../../dist/sandbox/index.js';
import { docker } from '../../dist/sandbox/docker-client.js';
import { runTraced } from '../../dist/vet/dynamic.js';

const ROUNDS = Number(process.argv[2] ?? 5);
const MODEL = resolve('fixtures/out/benign/torch_module.pt');
const LOAD = "import torch; torch.load('/tmp/m.pt', weights_only=False)";

const seconds = async (fn) => {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
};

async function ltrack(driver) {
  const r = await runSandbox({ driver, models: [{ hostPath: MODEL, format: 'torch-zip' }], network: 'none', timeoutSec: 120 });
  if (!r.reports.every((p) => p.ok)) throw new Error(`${driver}: the sandboxed load failed: ${r.stderr.slice(-300)}`);
}

async function ltrackTraced(driver) {
  const r = await runTraced({ driver, models: [{ hostPath: MODEL, format: 'torch-zip' }], network: 'none', timeoutSec: 120 }, () => undefined);
  if (!r.sandbox.phases.every((p) => p.ok) || r.incomplete.length) throw new Error(`${driver}: the traced load failed: ${r.incomplete.join('; ')}`);
  return r.events.length;
}

/** `docker run --rm --network none -v MODEL:/tmp/m.pt:ro IMAGE python3 -c LOAD`, through the same client. */
async function bareDocker(tag) {
  const c = await docker().createContainer({ Image: tag, Cmd: ['python3', '-c', LOAD], HostConfig: { NetworkMode: 'none', Binds: [`${MODEL}:/tmp/m.pt:ro`] } });
  await c.start();
  const { StatusCode } = await c.wait();
  await c.remove({ force: true });
  if (StatusCode !== 0) throw new Error(`bare docker run exited ${StatusCode}`);
}

/** `bwrap` over the same rootfs with nothing but the model bound in. */
function bareBwrap(rootfs) {
  const args = ['--ro-bind', rootfs, '/', '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp', '--ro-bind', MODEL, '/tmp/m.pt', '--unshare-all', '/usr/bin/python3', '-c', LOAD];
  return new Promise((res, rej) => {
    const p = spawn('bwrap', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => (code === 0 ? res() : rej(new Error(`bare bwrap exited ${code}: ${err.slice(-300)}`))));
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const { tag, rootfs } = await requireImage('docker');
const bare = { docker: () => bareDocker(tag), bwrap: () => bareBwrap(rootfs) };
console.log(`sandbox benchmark: ${MODEL.split('/').pop()}, ${ROUNDS} rounds per driver`);
for (const driver of ['docker', 'bwrap']) {
  const b = [],
    off = [],
    on = [];
  let events = 0;
  await bare[driver](); // warm the page cache and the image layers once
  for (let r = 0; r < ROUNDS; r++) {
    b.push(await seconds(bare[driver]));
    off.push(await seconds(() => ltrack(driver)));
    on.push(await seconds(async () => (events = await ltrackTraced(driver))));
  }
  // per-round ratios (runs side by side), median reported: the machine's speed drifts between rounds
  const ratio = (xs) => median(xs.map((x, i) => x / b[i])).toFixed(2);
  const list = (xs) => xs.map((x) => x.toFixed(2)).join(' ');
  console.log(`${driver}: bare ${median(b).toFixed(2)} s (${list(b)})`);
  console.log(`  ltrack, tracing off: ${median(off).toFixed(2)} s = ${ratio(off)}x bare (per round: ${off.map((x, i) => (x / b[i]).toFixed(2)).join(' ')})`);
  console.log(`  ltrack, tracing on:  ${median(on).toFixed(2)} s = ${ratio(on)}x bare (per round: ${on.map((x, i) => (x / b[i]).toFixed(2)).join(' ')}; ${events} events in the last run)`);
}
