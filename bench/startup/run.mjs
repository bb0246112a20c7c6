// Start-up cost of the CLI (issue 13, item 4): median wall time of `--version`, `--help` and a
// static vet of one small pickle, and files/s of a static vet of a folder of 1,000 small pickles.
// Usage: node bench/startup/run.mjs [runs] [other-dist ...]
// The bundled CLI (dist/bin/ltrack.js, package.json's bin) and the same code as plain modules
// (dist/cli/main.js) are measured in the same rounds, side by side, with any other dist folder's
// entry (a baseline built from another commit, kept next to dist/ so its relative paths resolve).
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const runs = Number(process.argv[2] ?? 9);
const dists = ['dist/bin/ltrack.js', 'dist/cli/main.js', ...process.argv.slice(3).map((d) => join(d, 'cli/main.js'))].map((d) => resolve(root, d));
const pickle = join(root, 'fixtures/out/benign/data.pkl');
const folder = join(root, 'bench/out/startup-1000');

// 1,000 copies of the small benign pickle under distinct names: the shape of a folder of small files.
if (!existsSync(join(folder, 'f999.pkl'))) {
  mkdirSync(folder, { recursive: true });
  const bytes = readFileSync(pickle);
  for (let i = 0; i < 1000; i++) writeFileSync(join(folder, `f${i}.pkl`), bytes);
}

const cases = [
  ['--version', ['--version']],
  ['--help', ['--help']],
  ['vet --static-only data.pkl', ['vet', '--static-only', pickle]],
  ['vet --static-only 1,000 files', ['vet', '--static-only', folder]],
];

/** node's flags from an entry's `#!/usr/bin/env -S node FLAGS` line: what the kernel passes when a user runs the bin. */
function shebangFlags(entry) {
  const m = readFileSync(entry, 'utf8')
    .split('\n', 1)[0]
    .match(/^#!\/usr\/bin\/env (?:-S )?node(.*)$/);
  return m ? m[1].trim().split(/\s+/).filter(Boolean) : [];
}

/** Wall ms, exit code and peak RSS (GNU time) of one CLI run; no entry: an empty node, the floor. */
function once(entry, args) {
  const t0 = process.hrtime.bigint();
  const script = entry ? [...shebangFlags(entry), entry, ...args] : ['-e', '0'];
  const r = spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, ...script], { encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const rssKb = Number(r.stderr.trim().split('\n').pop());
  return { ms, status: r.status, rssMb: rssKb / 1024 };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const samples = new Map();
const floor = [];
for (let round = 0; round < runs; round++) {
  floor.push(once(undefined, []));
  for (const [name, args] of cases) {
    for (const dist of dists) {
      const key = `${name}\t${dist}`;
      if (!samples.has(key)) samples.set(key, []);
      samples.get(key).push(once(dist, args));
    }
  }
}

console.log(`node ${process.version}, ${runs} runs each, medians; dists side by side: ${dists.map((d) => d.slice(root.length)).join(', ')}`);
console.log(
  `${'node -e 0 (floor)'.padEnd(30)} ${''.padEnd(20)} ${median(floor.map((x) => x.ms))
    .toFixed(0)
    .padStart(6)} ms  ${median(floor.map((x) => x.rssMb))
    .toFixed(0)
    .padStart(4)} MB RSS`,
);
for (const [name] of cases) {
  for (const dist of dists) {
    const s = samples.get(`${name}\t${dist}`);
    const ms = median(s.map((x) => x.ms));
    const rss = median(s.map((x) => x.rssMb));
    const rate = name.includes('1,000') ? `, ${Math.round(1000 / (ms / 1000))} files/s` : '';
    console.log(
      `${name.padEnd(30)} ${dist.slice(root.length).padEnd(20)} ${ms.toFixed(0).padStart(6)} ms  ${rss.toFixed(0).padStart(4)} MB RSS  exit ${[...new Set(s.map((x) => x.status))].join('/')}${rate}`,
    );
  }
}
