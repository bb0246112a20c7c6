// Gate benchmark (issue 17), measured side by side in one run. Run after `bash scripts/bootstrap`:
//   node bench/gate/run.mjs [rounds=3] [serveMiB=1024]      (rounds 0: the serving part only)
// 1. gate: a 20-file benign snapshot (~200 MB: ten float32 .npy arrays plus config, tokenizer and
//    text files) served by the Hub stand-in on loopback (test/helpers/hub.ts, bundled here with
//    esbuild). `ltrack gate REPO --to REG` (download, digest checks, full static + sandboxed vet,
//    promotion) against what a team would do without the gate: the same files downloaded by the
//    Hub's own client (@huggingface/hub snapshotDownload) plus `ltrack vet` of the folder. Rounds
//    alternate which side goes first; each round gates a fresh registry (no recorded verdict).
// 2. serving: a promoted 1 GiB file fetched with curl through `ltrack gate serve` against a plain
//    static file server (Node's http + createReadStream, the same blob) on loopback.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { build } from 'esbuild';
import { snapshotDownload } from '@huggingface/hub';

const execFileAsync = promisify(execFile);
const ROUNDS = Number(process.argv[2] ?? 3);
const SERVE_MIB = Number(process.argv[3] ?? 1024);
const CLI = resolve('dist/bin/ltrack.js');
const work = mkdtempSync(join(tmpdir(), 'lt-bench-gate-'));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const geomean = (xs) => Math.exp(xs.reduce((s, x) => s + Math.log(x), 0) / xs.length);
const fmt = (x) => x.toFixed(3);

// the stand-in is test infrastructure in TypeScript: bundle it rather than keep a second copy
const standIn = join(work, 'hub.mjs');
await build({ entryPoints: [resolve('test/helpers/hub.ts')], bundle: true, platform: 'node', format: 'esm', outfile: standIn, logLevel: 'error' });
const { startHub } = await import(standIn);

/** numpy's format 1.0 header of a float32 vector of n values, padded to 64 bytes. */
function npyHeader(n) {
  const header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${n},), }`.padEnd(64 - 10 - 1, ' ') + '\n';
  return Buffer.concat([Buffer.from([0x93]), Buffer.from('NUMPY'), Buffer.from([1, 0, header.length, 0]), Buffer.from(header, 'latin1')]);
}
/** A float32 .npy of n values that do not compress to nothing. */
function npy(n, seed) {
  const data = Buffer.alloc(n * 4);
  for (let i = 0; i < n; i++) data.writeFloatLE(((i * 2654435761 + seed) % 1000) / 1000, i * 4);
  return Buffer.concat([npyHeader(n), data]);
}
const file = (path, content) => ({ path, content: Buffer.from(content) });
const snapshot = [
  ...Array.from({ length: 10 }, (_, i) => file(`weights/layer${i}.npy`, npy(5_000_000, i))),
  file('config.json', JSON.stringify({ model_type: 'bench', hidden_size: 4096 })),
  file('generation_config.json', '{"max_new_tokens": 32}'),
  file('tokenizer_config.json', JSON.stringify({ model_max_length: 4096, chat_template: '{% for m in messages %}{{ m.content }}{% endfor %}' })),
  file('special_tokens_map.json', '{}'),
  file('vocab.txt', 'a\nb\nc\n'),
  file('README.md', '# bench\n'),
  file('LICENSE', 'MIT\n'),
  file('merges.txt', '#version: 0.2\n'),
  file('notes/usage.md', 'load with numpy\n'),
  file('notes/eval.md', 'accuracy 1.0\n'),
];
const totalMB = snapshot.reduce((n, f) => n + f.content.length, 0) / 1e6;
const bigN = (SERVE_MIB * 1024 * 1024) / 4;
const big = Buffer.concat([npyHeader(bigN), Buffer.alloc(bigN * 4)]);
const hub = await startHub([
  { id: 'bench/model', files: snapshot },
  { id: 'bench/big', files: [file('config.json', '{}'), { path: 'blob.npy', content: big, lfs: true }] },
]);

const seconds = (fn) => async () => {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
};
const cli = (args) =>
  new Promise((res, rej) => {
    const c = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, HF_TOKEN: '' } });
    let err = '';
    c.stderr.on('data', (d) => (err += d));
    c.on('close', (code) => (code === 0 ? res() : rej(new Error(`ltrack ${args.join(' ')}: exit ${code}: ${err}`))));
  });

let round = 0;
const gated = seconds(async () => cli(['gate', 'bench/model', '--endpoint', hub.url, '--to', join(work, `reg-${round}`), '--progress', 'off']));
const clientThenVet = seconds(async () => {
  const dir = await snapshotDownload({ repo: 'bench/model', hubUrl: hub.url, cacheDir: join(work, `cache-${round}`) });
  await cli(['vet', dir, '--progress', 'off']);
});
const ratios = [];
const gateTimes = [];
const baseTimes = [];
for (; round < ROUNDS; round++) {
  let g;
  let b;
  if (round % 2 === 0) {
    g = await gated();
    b = await clientThenVet();
  } else {
    b = await clientThenVet();
    g = await gated();
  }
  gateTimes.push(g);
  baseTimes.push(b);
  ratios.push(g / b);
}
if (ROUNDS > 0) {
  console.log(`gate of a ${snapshot.length}-file snapshot (${totalMB.toFixed(0)} MB), ${ROUNDS} rounds`);
  console.log(`  ltrack gate (download, digests, vet, promote): median ${fmt(median(gateTimes))} s`);
  console.log(`  @huggingface/hub download + ltrack vet:      median ${fmt(median(baseTimes))} s`);
  console.log(`  ratio gate / (client + vet): ${fmt(geomean(ratios))} (target <= 1.10)`);
}

// serving: promote the big file once (static analysis is enough for a throughput measure), then
// fetch it through the proxy and from a plain static server of the same blob
const reg = join(work, 'reg-serve');
await cli(['gate', 'bench/big', '--endpoint', hub.url, '--to', reg, '--static-only', '--progress', 'off']);
const blob = join(reg, 'models--bench--big', 'snapshots', execFileSync('cat', [join(reg, 'models--bench--big', 'refs', 'main')], { encoding: 'utf8' }), 'blob.npy');
const plain = createServer((req, res) => {
  res.writeHead(200, { 'Content-Length': String(statSync(blob).size) });
  createReadStream(blob, { highWaterMark: 1 << 20 }).pipe(res);
});
await new Promise((r) => plain.listen(0, '127.0.0.1', r));
const gateProc = spawn(process.execPath, [CLI, 'gate', 'serve', '--listen', '127.0.0.1:0', '--upstream', hub.url, '--registry', reg], { stdio: ['ignore', 'ignore', 'pipe'] });
const proxyUrl = await new Promise((res) => {
  let err = '';
  gateProc.stderr.on('data', (d) => {
    err += d;
    const m = /listening on (http:\/\/\S+),/.exec(err);
    if (m) res(m[1]);
  });
});
// asynchronous: the plain server runs in this process
const curlRate = async (url) => Number((await execFileAsync('curl', ['-sS', '-o', '/dev/null', '-w', '%{speed_download}', url], { encoding: 'utf8' })).stdout);
const proxyRates = [];
const plainRates = [];
const viaProxy = () => curlRate(`${proxyUrl}/bench/big/resolve/main/blob.npy`);
const direct = () => curlRate(`http://127.0.0.1:${plain.address().port}/`);
for (let i = 0; i < 5; i++) {
  if (i % 2 === 0) {
    proxyRates.push(await viaProxy());
    plainRates.push(await direct());
  } else {
    plainRates.push(await direct());
    proxyRates.push(await viaProxy());
  }
}
console.log(`serving a promoted ${SERVE_MIB} MiB file on loopback, 5 fetches each (curl)`);
console.log(`  through ltrack gate serve: median ${(median(proxyRates) / 1e6).toFixed(0)} MB/s`);
console.log(`  plain static file server:  median ${(median(plainRates) / 1e6).toFixed(0)} MB/s`);
console.log(`  ratio proxy / plain: ${fmt(median(proxyRates) / median(plainRates))} (target >= 0.80)`);

gateProc.kill('SIGTERM');
plain.close();
await hub.close();
rmSync(work, { recursive: true, force: true });
