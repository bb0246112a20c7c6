// Tracer benchmark (issue 4): prints ratios measured side by side. Run after `bash scripts/bootstrap`
// (it needs dist/ and the addon): node bench/trace/run.mjs [pairs=2000000] [rounds=2]
import { execFileSync, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { BATCH_BYTES, startTrace, decodeBatch } from '../../dist/trace/index.js';
import { ADDON_PATH } from '../../dist/trace/addon.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const LOADGEN = '/tmp/ltrack-bench-loadgen';
execFileSync('cc', ['-O2', '-o', LOADGEN, `${here}loadgen.c`]);
// The floor: an empty program on the open tracepoint, loaded by a plain libbpf loader.
const FLOOR_OBJ = '/tmp/ltrack-bench-floor.bpf.o';
const FLOOR_LOADER = '/tmp/ltrack-bench-floor-loader';
execFileSync('clang', ['-O2', '-target', 'bpf', '-c', `${here}floor.bpf.c`, '-o', FLOOR_OBJ]);
execFileSync('cc', ['-O2', '-o', FLOOR_LOADER, `${here}floor-loader.c`, '-lbpf']);
const PAIRS = Number(process.argv[2] ?? 2_000_000);
const ROUNDS = Number(process.argv[3] ?? 2);
const addon = createRequire(import.meta.url)(ADDON_PATH);

/** Runs the load generator; `onStart(pid)` runs before it is released. Resolves with loop ns. */
function loadgen(args, onStart) {
  const child = spawn(LOADGEN, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const done = new Promise((resolve, reject) =>
    // it prints wall and CPU ns; the wall time is the measure
    child.on('close', (code) => (code === 0 ? resolve(Number(out.trim().split(' ')[0])) : reject(new Error(`loadgen exit ${code}`)))),
  );
  return Promise.resolve(onStart ? onStart(child.pid) : undefined).then(() => {
    child.stdin.end('go\n');
    return done;
  });
}

/** Consumes a session; returns how many opens it accounts for (events x their fold counts). */
async function drain(session) {
  let n = 0;
  for await (const batch of session) for (const e of batch) if (e.path) n += e.count;
  return n;
}

/** One traced run of the load generator; returns [loop ns, opens accounted, drops, events]. */
async function tracedRun(options) {
  let s;
  const reading = [];
  const ns = await loadgen([String(PAIRS), '0', 'gate'], async (pid) => {
    s = await startTrace({ pid }, options);
    reading.push(drain(s));
  });
  const st = await s.stop();
  return [ns, await reading[0], st.drops, st.events];
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
/** Runs fn while the empty floor program is attached. */
async function withFloor(fn) {
  const loader = spawn(FLOOR_LOADER, [FLOOR_OBJ], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise((r) => loader.on('close', r));
  await new Promise((resolve, reject) => {
    loader.stdout.once('data', resolve);
    loader.once('close', (code) => reject(new Error(`floor loader exit ${code}`)));
  });
  try {
    return await fn();
  } finally {
    loader.stdin.end();
    await exited;
  }
}

const base = [],
  floor = [],
  loaded = [],
  traced = [],
  tracedAgg = [];
let lastTraced, lastAgg;
for (let r = 0; r < ROUNDS; r++) {
  base.push(await loadgen([String(PAIRS), '0', 'gate']));
  floor.push(await withFloor(() => loadgen([String(PAIRS), '0', 'gate'])));
  {
    const s = await startTrace({ pid: 1 << 30 }); // a tgid that does not exist: nothing traced
    const reading = drain(s);
    loaded.push(await loadgen([String(PAIRS), '0', 'gate']));
    await s.stop();
    await reading;
  }
  lastTraced = await tracedRun({ aggregateMs: 0 });
  traced.push(lastTraced[0]);
  lastAgg = await tracedRun({});
  tracedAgg.push(lastAgg[0]);
}
// Ratios are taken per round (runs side by side) and their median reported: the machine is shared
// and its speed drifts between rounds more than the effect being measured.
const ratio = (xs) => median(xs.map((x, i) => x / base[i])).toFixed(3);
console.log(`1. ${PAIRS} open/close pairs, ${ROUNDS} rounds: no BPF median ${(median(base) / 1e9).toFixed(2)} s`);
console.log(`   floor, an empty program on sys_exit_openat: ${ratio(floor)}x (per round: ${floor.map((x, i) => (x / base[i]).toFixed(2)).join(' ')})`);
console.log(`   tracer loaded, process untraced: ${ratio(loaded)}x (per round: ${loaded.map((x, i) => (x / base[i]).toFixed(2)).join(' ')})`);
console.log(`   traced, every open sent (aggregateMs 0): ${ratio(traced)}x; opens accounted ${lastTraced[1]}, drops ${lastTraced[2]}`);
console.log(`   traced, default aggregation (1 s): ${ratio(tracedAgg)}x; opens accounted ${lastAgg[1]} in ${lastAgg[3]} events, drops ${lastAgg[2]}`);

// 2. consumer capacity: fill the ring with no reader, then time drain + decode (+ every path read),
// in the batches a trace session uses
{
  const h = addon.open({ ringBytes: 512 << 20, kindMask: 1 << 3, wakeupBytes: 1 << 20, cgroupHooks: 0, aggregateMs: 0 });
  await loadgen([String(PAIRS), '0', 'gate'], (pid) => addon.addPid(h, pid));
  const t0 = process.hrtime.bigint();
  let n = 0,
    chars = 0;
  for (;;) {
    const buf = await addon.poll(h, 0, BATCH_BYTES);
    if (buf.length === 0) break;
    for (const e of decodeBatch(buf)) {
      n++;
      chars += e.path.length;
    }
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const drops = addon.drops(h).reduce((x, y) => x + y, 0n);
  addon.close(h);
  console.log(`2. consumer: ${n} pre-filled events (+${drops} drops) drained and decoded, paths read, in ${s.toFixed(2)} s = ${(n / s / 1e6).toFixed(2)} M events/s (${chars} path chars)`);
}

// 3. CPU of the Node consumer at a sustained rate, measured between attach and the end of the
// load (loading and verifying the programs is start-up cost, not consumer cost)
{
  const rate = 100_000,
    seconds = 5;
  let s, c0, t0;
  const reading = [];
  await loadgen([String(rate * seconds), String(rate), 'gate'], async (pid) => {
    s = await startTrace({ pid }, { aggregateMs: 0 });
    reading.push(drain(s));
    c0 = process.cpuUsage();
    t0 = process.hrtime.bigint();
  });
  const cpu = process.cpuUsage(c0);
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const st = await s.stop();
  const n = await reading[0];
  const pct = ((cpu.user + cpu.system) / 1e6 / wall) * 100;
  const per100k = pct / (n / wall / 100_000);
  console.log(
    `3. consumer CPU at ${(n / wall / 1000).toFixed(0)}k events/s for ${wall.toFixed(1)} s: ${pct.toFixed(1)}% of a core = ${per100k.toFixed(1)}% per 100k events/s (${n} events, ${st.drops} drops)`,
  );
}
