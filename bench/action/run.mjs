// GitHub Action benchmark (issue 18): the bundled action (dist/action/index.js, run as the runner
// runs it: INPUT_* variables, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY) against the CLI's own
// `ltrack vet` of the same fixture torch model, full dynamic vet, warm (image built, tracer built),
// rounds alternating which goes first. Run after `bash scripts/bootstrap`:
//   node bench/action/run.mjs [rounds=5]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROUNDS = Number(process.argv[2] ?? 5);
const MODEL = resolve('fixtures/out/benign/torch_module.pt');
const work = mkdtempSync(join(tmpdir(), 'lt-bench-action-'));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const geomean = (xs) => Math.exp(xs.reduce((s, x) => s + Math.log(x), 0) / xs.length);

const timed = (fn) => {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
};
let n = 0;
const action = () =>
  timed(() => {
    const dir = join(work, `a${n++}`);
    execFileSync('mkdir', ['-p', dir]);
    for (const f of ['output', 'summary.md', 'event.json']) writeFileSync(join(dir, f), f === 'event.json' ? '{}' : '');
    execFileSync(process.execPath, [resolve('dist/action/index.js')], {
      cwd: dir,
      stdio: 'ignore',
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        INPUT_PATHS: MODEL,
        INPUT_OUT: join(dir, 'out'),
        GITHUB_OUTPUT: join(dir, 'output'),
        GITHUB_STEP_SUMMARY: join(dir, 'summary.md'),
        GITHUB_EVENT_PATH: join(dir, 'event.json'),
        GITHUB_WORKSPACE: dir,
        RUNNER_TEMP: dir,
      },
    });
  });
const cli = () => timed(() => execFileSync(process.execPath, [resolve('dist/bin/ltrack.js'), 'vet', MODEL, '--out', join(work, `c${n++}`), '--progress', 'off'], { stdio: 'ignore' }));

const a = [];
const c = [];
const ratios = [];
for (let i = 0; i < ROUNDS; i++) {
  let x;
  let y;
  if (i % 2 === 0) {
    x = action();
    y = cli();
  } else {
    y = cli();
    x = action();
  }
  a.push(x);
  c.push(y);
  ratios.push(x / y);
}
console.log(`fixture torch module, full vet (docker sandbox, tracer), ${ROUNDS} rounds`);
console.log(`  action (bundle, INPUT_* env): median ${median(a).toFixed(3)} s`);
console.log(`  ltrack vet (CLI):             median ${median(c).toFixed(3)} s`);
console.log(`  ratio action / CLI: ${geomean(ratios).toFixed(3)} (target <= 1.2)`);
rmSync(work, { recursive: true, force: true });
