// Large-checkpoint benchmark (issue 13): a multi-GB torch zip through `ltrack vet` end to end (the
// CLI: static analysis, the traced docker sandbox loading it memory-mapped, rules, report) against a
// bare `docker run` of the same image doing the same `torch.load(mmap=True)` and reading every
// tensor, side by side in one run; and the sha256 of the file alone, which every vet that reports a
// digest must take. Also the peak RSS of the ltrack process (host side).
//   node bench/sandbox/large.mjs [gigabytes=5] [rounds=2]
// Run after `bash scripts/bootstrap`. Writes the checkpoint under /var/tmp and removes it after.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { requireImage } from '../../dist/sandbox/index.js';
import { docker } from '../../dist/sandbox/docker-client.js';

const GB = Number(process.argv[2] ?? 5);
const ROUNDS = Number(process.argv[3] ?? 2);
const dir = mkdtempSync('/var/tmp/ltrack-bench-large-');
const model = join(dir, 'model.pt');
// Ten equal float32 tensors of GB/10 each, written by Debian's torch on the host.
execFileSync('/usr/bin/python3', [
  '-c',
  `
import sys, torch
n = int(float(sys.argv[2]) * 2**30 / 4 / 10)
torch.save({f"layer{i}.weight": torch.full((n,), float(i)) for i in range(10)}, sys.argv[1])
`,
  model,
  String(GB),
]);
// on disk, as a user's checkpoint is, not 5 GiB of dirty pages still being written back: those
// would throttle the staging copy's own writes and measure the disk, not the vet
execFileSync('sync');
const bytes = statSync(model).size;
const LOAD = "import torch; sd = torch.load('/tmp/m.pt', map_location='cpu', weights_only=False, mmap=True); print(sum(float(t.sum()) for t in sd.values()))";

const seconds = async (fn) => {
  const t0 = process.hrtime.bigint();
  const r = await fn();
  return [Number(process.hrtime.bigint() - t0) / 1e9, r];
};

async function bare(tag) {
  const c = await docker().createContainer({ Image: tag, Cmd: ['python3', '-c', LOAD], HostConfig: { NetworkMode: 'none', Memory: 2 ** 31, MemorySwap: 2 ** 31, Binds: [`${model}:/tmp/m.pt:ro`] } });
  await c.start();
  const { StatusCode } = await c.wait();
  await c.remove({ force: true });
  if (StatusCode !== 0) throw new Error(`bare docker run exited ${StatusCode}`);
}

/**
 * The floor under any vet that reports the file's digest: node's sha256 of every byte on one core
 * (SHA-NI here), in a child process as the vet's worker thread does it, 256 KiB reads.
 */
function hashAlone() {
  const code = `const h = require('node:crypto').createHash('sha256'), fs = require('node:fs'), b = Buffer.allocUnsafe(1 << 18), fd = fs.openSync(process.argv[1]);
let p = 0, n; while ((n = fs.readSync(fd, b, 0, b.length, p)) > 0) { h.update(b.subarray(0, n)); p += n; } process.stdout.write(h.digest('hex'));`;
  execFileSync(process.execPath, ['-e', code, model]);
}

/** `ltrack vet MODEL` through the CLI, peak RSS from /proc while it runs (VmHWM at exit is lost). */
function vet() {
  return new Promise((res, rej) => {
    const p = spawn(resolve('dist/bin/ltrack.js'), ['vet', '--sandbox', 'docker', model], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '',
      peak = 0;
    const poll = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(execFileSync('cat', [`/proc/${p.pid}/status`], { encoding: 'utf8' }));
        if (m) peak = Math.max(peak, Number(m[1]) * 1024);
      } catch {
        /* exited */
      }
    }, 200);
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('close', (code) => {
      clearInterval(poll);
      if (code === 0) res(peak);
      else rej(new Error(`ltrack vet exited ${code}: ${out.slice(-500)}`));
    });
  });
}

try {
  const { tag } = await requireImage('docker');
  console.log(`large-checkpoint benchmark: ${(bytes / 2 ** 30).toFixed(2)} GiB torch zip (10 tensors), ${ROUNDS} rounds, image ${tag}`);
  for (let round = 0; round < ROUNDS; round++) {
    const [b] = await seconds(() => bare(tag));
    const [v, rss] = await seconds(vet);
    const [h] = await seconds(() => hashAlone());
    console.log(
      `round ${round}: bare docker run ${b.toFixed(1)} s, ltrack vet ${v.toFixed(1)} s → ${(v / b).toFixed(2)}×; sha256 of the file alone ${h.toFixed(1)} s (vet ${(v / h).toFixed(2)}× it); ltrack peak RSS ${(rss / 2 ** 20).toFixed(0)} MiB`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
