// Static vet of the shapes real model files have, end to end through the CLI (issue 13 item 1):
// for each shape, in one run and side by side, `ltrack vet --static-only` (the package's bin,
// dist/bin/ltrack.js, as a user runs it) under /usr/bin/time -v for its wall time and peak RSS, and
// `openssl dgst -sha256` of the same bytes. The bin runs through its shebang
// (which gives node its flags). Targets: <= 1.25x openssl, peak RSS < 100 MB. A
// static-only vet that signs nothing reads in place (src/intake/in-place.ts): no copy.
// Usage: node bench/static/shapes.mjs [GiB=1] [rounds=1] [shape...]
//   (after bash scripts/bootstrap; files are written once by shapes.py into /tmp/ltrack-bench-shapes/<GiB>g)
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const GiB = Number(process.argv[2] ?? 1);
const rounds = Number(process.argv[3] ?? 1);
const only = process.argv.slice(4);
const dir = `/tmp/ltrack-bench-shapes/${GiB}g`;
execFileSync('/usr/bin/python3', ['bench/static/shapes.py', dir, String(Math.round(GiB * 2 ** 30)), ...only], { stdio: 'inherit' });

/** Every regular file under a path (a folder shape such as onnx/ is vetted as a folder). */
const filesOf = (p) => (statSync(p).isDirectory() ? readdirSync(p).flatMap((f) => filesOf(join(p, f))) : [p]);

function timed(cmd, args) {
  const r = spawnSync('/usr/bin/time', ['-v', cmd, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  const field = (name) => r.stderr.match(new RegExp(`${name}: (.*)`))?.[1] ?? '';
  const [m, s] = field('Elapsed \\(wall clock\\) time \\(h:mm:ss or m:ss\\)').split(':').slice(-2).map(Number);
  return { status: Number(field('Exit status')), seconds: m * 60 + s, rssMB: Number(field('Maximum resident set size \\(kbytes\\)')) / 1024, stdout: r.stdout, stderr: r.stderr };
}

const VERDICT = { 0: 'pass', 1: 'block', 2: 'bad input', 3: 'incomplete' };
const rows = [];
{
  for (const name of readdirSync(dir)
    .filter((n) => !n.startsWith('.') && (only.length === 0 || only.includes(n)))
    .sort()) {
    const path = join(dir, name);
    const files = filesOf(path);
    const bytes = files.reduce((s, f) => s + statSync(f).size, 0);
    // both read from the page cache: one untimed read first, then the two alternate which goes first
    timed('openssl', ['dgst', '-sha256', ...files]);
    for (let round = 0; round < rounds; round++) {
      const sslFirst = round % 2 === 1;
      const sslEarly = sslFirst ? timed('openssl', ['dgst', '-sha256', ...files]) : undefined;
      const ours = timed('dist/bin/ltrack.js', ['vet', '--static-only', path, '--format', 'json']);
      if (ours.status === 2) throw new Error(`ltrack vet failed on ${name}: ${ours.stderr}`);
      const ssl = sslEarly ?? timed('openssl', ['dgst', '-sha256', ...files]);
      const report = JSON.parse(ours.stdout);
      const reasons = [...new Set((report.findings ?? []).map((f) => f.ruleId))].join(' ');
      rows.push({ name, bytes, ...ours, ssl: ssl.seconds, verdict: VERDICT[ours.status] ?? ours.status, reasons });
    }
  }
}
console.log(`| shape (${GiB} GiB) | ltrack vet --static-only s | peak RSS MB | openssl sha256 s | x openssl | verdict (rules) |`);
console.log('|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(`| ${r.name} | ${r.seconds.toFixed(2)} | ${r.rssMB.toFixed(0)} | ${r.ssl.toFixed(2)} | **${(r.seconds / r.ssl).toFixed(2)}** | ${r.verdict}${r.reasons ? ` (${r.reasons})` : ''} |`);
}
