// Throughput benchmark (issue 13 item 5): small-pickle vets per minute, measured side by side in
// one run, and the demo's wall time. Run after `bash scripts/bootstrap` (dist/, image, fixtures):
//   node bench/throughput/run.mjs [rounds=2] [--demo]
// Per round and sandbox driver (docker, bwrap), the same small pickles are vetted three ways, in turn:
//   separate: one vet() after another, each attaching and detaching its own tracer (the path a
//             loop over `ltrack vet FILE` takes, minus node's start-up);
//   jobs 1:   vetMany with one shared tracer, one sandbox at a time;
//   jobs 2:   vetMany with one shared tracer, two sandboxes side by side.
// Every vet must get its fixture's expected verdict, so a broken run cannot look fast.
// Beside wall time, CPU seconds per vet: this process plus the children it waited for (its
// utime+stime+cutime+cstime). bwrap sandboxes are such children, so for bwrap this is the whole
// vet's CPU, a figure a busy shared machine does not inflate, and 60 × cores / it is what an idle
// machine could at most do; docker's containers are not our children (node's share only).
// --demo also times `ltrack demo` (every bundled fixture) with --jobs 1 and with the default.
import { spawnSync } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { vet } from '../../dist/vet/index.js';
import { vetMany } from '../../dist/vet/many.js';

const ROUNDS = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 2);
const DEMO = process.argv.includes('--demo');
const FIXTURES = resolve('fixtures/out');
const PICKLES = [
  'benign/data.pkl',
  'benign/ordered_proto2.pkl',
  'benign/data.dill',
  'benign/data.cloudpickle',
  'malicious/system.pkl',
  'malicious/connect.pkl',
  'malicious/read_ssh_key.pkl',
  'tricks/partial.pkl',
];
const index = new Map(JSON.parse(readFileSync(join(FIXTURES, 'index.json'), 'utf8')).map((e) => [e.file, e]));
const DRIVERS = ['docker', 'bwrap'];
const options = (sandbox) => ({ staticOnly: false, sandbox, network: 'none', timeoutSec: 300, failOn: 'high', onProgress: () => undefined });

function check(file, report) {
  const want = index.get(file).verdict;
  if (report.verdict.status !== want) throw new Error(`${file}: ${report.verdict.status}, expected ${want}: ${report.verdict.reasons.join('; ')}`);
}

async function separate(driver) {
  for (const f of PICKLES) check(f, (await vet({ ...options(driver), paths: [join(FIXTURES, f)] })).report);
}

async function many(driver, jobs) {
  const results = await vetMany(
    PICKLES.map((f) => [join(FIXTURES, f)]),
    options(driver),
    { jobs },
  );
  results.forEach((r, i) => {
    if ('error' in r) throw new Error(`${PICKLES[i]}: ${r.error.message}`);
    check(PICKLES[i], r.outcome.report);
  });
}

/** CPU seconds of this process and its waited-for children (/proc/self/stat fields 14-17). */
function cpuSeconds() {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100; // USER_HZ
}
const cpu = {};
const seconds = async (fn, name) => {
  const t0 = process.hrtime.bigint();
  const c0 = cpuSeconds();
  await fn();
  if (name) (cpu[name] ??= []).push(cpuSeconds() - c0);
  return Number(process.hrtime.bigint() - t0) / 1e9;
};
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const perMinute = (s) => (PICKLES.length * 60) / s;

console.log(
  `throughput benchmark, ${new Date().toISOString()}: ${PICKLES.length} small pickles per set, ${ROUNDS} round(s), ${availableParallelism()} cores, load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
const ways = Object.fromEntries(
  DRIVERS.flatMap((d) => [
    [`${d} separate`, () => separate(d)],
    [`${d} jobs 1`, () => many(d, 1)],
    [`${d} jobs 2`, () => many(d, 2)],
  ]),
);
const times = Object.fromEntries(Object.keys(ways).map((k) => [k, []]));
for (const d of DRIVERS) await many(d, 2); // warm: image and library-digest caches, dockerd, page cache
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, fn] of Object.entries(ways)) {
    const s = await seconds(fn, name);
    times[name].push(s);
    console.log(`  round ${r + 1} ${name.padEnd(16)} ${s.toFixed(1)} s  (${perMinute(s).toFixed(1)} vets/min)`);
  }
}
console.log(
  `\nmedian per set of ${PICKLES.length}; load average now ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
for (const [name, xs] of Object.entries(times)) {
  const m = median(xs);
  const base = median(times[`${name.split(' ')[0]} separate`]);
  const c = median(cpu[name]) / PICKLES.length;
  const whole = name.startsWith('bwrap');
  console.log(
    `  ${name.padEnd(16)} ${m.toFixed(1)} s, ${(m / PICKLES.length).toFixed(2)} s/vet, ${perMinute(m).toFixed(1)} vets/min, ${(base / m).toFixed(2)}× separate; CPU ${c.toFixed(2)} s/vet${whole ? ` (idle ${availableParallelism()} cores: at most ${((60 * availableParallelism()) / c).toFixed(0)} vets/min)` : ' (node only)'}`,
  );
}
for (const d of DRIVERS) console.log(`target: >= 60 small-pickle vets/min on 2 cores: ${d} jobs 2 ${perMinute(median(times[`${d} jobs 2`])) >= 60 ? 'met' : 'not met'}`);

// the demo through the CLI, as `npm run demo` runs it (docker when its socket answers)
const DEMO_RUNS = [
  ['docker', '1'],
  ['docker', String(availableParallelism())],
  ['bwrap', String(availableParallelism())],
];
if (DEMO) {
  for (const [sandbox, jobs] of DEMO_RUNS) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync('dist/bin/ltrack.js', ['demo', '--sandbox', sandbox, '--jobs', jobs, '--out', `/tmp/ltrack-bench-demo-${sandbox}-${jobs}`], {
      encoding: 'utf8',
      maxBuffer: 1 << 26,
    });
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    const n = JSON.parse(readFileSync(join(FIXTURES, 'index.json'), 'utf8')).length;
    const summary = r.stdout.trim().split('\n').pop();
    console.log(`demo --sandbox ${sandbox} --jobs ${jobs}: ${s.toFixed(1)} s wall for ${n} fixtures, ${(s / n).toFixed(2)} s/fixture, ${((n * 60) / s).toFixed(1)}/min, exit ${r.status}: ${summary}`);
  }
  console.log('target: the demo under 60 s');
}
