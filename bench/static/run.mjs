// Static engine benchmark (issue 8): on the same files, in one run, side by side —
//   ltrack's scan (sha256 of every byte + parse) vs `openssl dgst -sha256` vs a Python
//   pickletools.genops walk (what picklescan does), for (a) a 1 GB pickle of large BINBYTES,
//   (b) a 1 GB torch zip checkpoint, (c) 1,000 small pickles and torch zips in one folder.
// Usage: node bench/static/run.mjs [GiB=1]   (after bash scripts/bootstrap; files go to /tmp)
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, openSync, writeSync, closeSync, readdirSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import { join } from 'node:path';

const GiB = Number(process.argv[2] ?? 1);
const dir = '/tmp/ltrack-bench-static';
mkdirSync(dir, { recursive: true });

function bigPickle(path) {
  if (existsSync(path)) return;
  const chunk = randomFillSync(Buffer.alloc(64 << 20));
  const fd = openSync(path, 'w');
  writeSync(fd, Buffer.from([0x80, 4, 0x5d, 0x28])); // PROTO 4, EMPTY_LIST, MARK
  for (let i = 0; i < GiB * 16; i++) {
    const head = Buffer.alloc(9);
    head[0] = 0x8e; // BINBYTES8
    head.writeBigUInt64LE(BigInt(chunk.length), 1);
    writeSync(fd, head);
    writeSync(fd, chunk);
  }
  writeSync(fd, Buffer.from([0x65, 0x2e])); // APPENDS, STOP
  closeSync(fd);
}

function bigTorch(path) {
  if (existsSync(path)) return;
  execFileSync('/usr/bin/python3', ['-c', `import torch; torch.manual_seed(0); torch.save({'w': torch.rand(${GiB} * 256 * 1024 * 1024)}, ${JSON.stringify(path)})`], { stdio: 'inherit' });
}

function smallFolder(path) {
  if (existsSync(path) && readdirSync(path).length >= 1000) return;
  mkdirSync(path, { recursive: true });
  const src = ['fixtures/out/benign/data.pkl', 'fixtures/out/benign/torch_state_dict.pt'];
  for (let i = 0; i < 1000; i++) copyFileSync(src[i % 2], join(path, `m${i}${i % 2 ? '.pt' : '.pkl'}`));
}

const time = (cmd, args) => {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
  return { seconds: (performance.now() - t0) / 1000, out: r.stdout };
};
const ltrack = (paths) => JSON.parse(time(process.execPath, ['bench/static/scan-one.mjs', ...paths]).out);
const openssl = (files) => time('openssl', ['dgst', '-sha256', ...files]).seconds;
const genops = (files) =>
  time('/usr/bin/python3', [
    '-c',
    'import sys,pickletools\nfor p in sys.argv[1:]:\n    with open(p,"rb") as f:\n        data = f.read()\n    try:\n        for _ in pickletools.genops(data): pass\n    except Exception: pass',
    ...files,
  ]).seconds;

// named by size, so a run at another size makes its own files
const a = join(dir, `big-${GiB}g.pkl`);
const b = join(dir, `big-${GiB}g.pt`);
const c = join(dir, 'small');
bigPickle(a);
bigTorch(b);
smallFolder(c);
const smallFiles = readdirSync(c).map((f) => join(c, f));

const rows = [];
for (const [name, paths, files, bytes] of [
  [`(a) ${GiB} GB pickle of BINBYTES`, [a], [a], null],
  [`(b) ${GiB} GB torch zip`, [b], [b], null],
  ['(c) 1,000 small files', [c], smallFiles, smallFiles.length],
]) {
  const ours = ltrack(paths);
  const ssl = openssl(files);
  const py = name.startsWith('(b)') ? NaN : genops(files);
  const size = files.reduce((s, f) => s + Number(execFileSync('stat', ['-c', '%s', f]).toString()), 0);
  rows.push({
    name,
    seconds: ours.seconds,
    mbps: size / 1e6 / ours.seconds,
    filesPerSec: bytes ? bytes / ours.seconds : NaN,
    rss: ours.maxRssMB,
    vsOpenssl: ours.seconds / ssl,
    vsGenops: ours.seconds / py,
  });
}
console.log('| input | ltrack s | MB/s | files/s | peak RSS MB | × openssl sha256 | × pickletools.genops |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows)
  console.log(
    `| ${r.name} | ${r.seconds.toFixed(2)} | ${r.mbps.toFixed(0)} | ${Number.isNaN(r.filesPerSec) ? '—' : r.filesPerSec.toFixed(0)} | ${r.rss.toFixed(0)} | ${r.vsOpenssl.toFixed(2)} | ${Number.isNaN(r.vsGenops) ? '—' : r.vsGenops.toFixed(2)} |`,
  );
