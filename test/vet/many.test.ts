import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ltrack } from '../helpers/cli.js';
import { FIXTURES, blocksInProbePickle } from '../helpers/fixtures.js';
import type { Report } from '../../src/core/report.js';

/**
 * `ltrack vet --each --jobs 2`: several candidates vetted side by side under one tracer, through
 * the real CLI, dockerd, sandbox image and kernel. Each candidate's events are those of its own
 * cgroup; one candidate's behaviour or failure must never reach another's verdict or report.
 */
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ltrack-many-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

interface Ev {
  kind: string;
  ts: number;
  tgid: number;
  cgroup: number;
  path?: string;
  argv?: string[];
}
const readReport = async (out: string) => JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as Report;
const readEvents = async (out: string) =>
  (await readFile(join(out, 'events.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Ev);
/** --each writes one folder per candidate, DIR/<n>-<name>. */
const candidateDir = async (out: string, n: number) =>
  join(
    out,
    (await readdir(out)).find((d) => d.startsWith(`${n}-`))!,
  );
const execsTrue = (e: Ev) => e.kind === 'exec' && (e.path === '/bin/true' || e.path === '/usr/bin/true' || (e.argv ?? []).some((a) => a.includes('/bin/true')));

describe('ltrack vet --each (one tracer, sandboxes side by side)', () => {
  it('blocks a malicious candidate and passes a benign one vetted concurrently, each report holding only its own events', async () => {
    const out = join(dir, 'pair');
    // runs /bin/true at load like fixtures' system.pkl, then blocks in its probe until --timeout: the
    // benign run falls inside it however quickly or slowly either sandbox starts
    const malicious = join(dir, 'system-then-blocks.pkl');
    await writeFile(malicious, blocksInProbePickle('/bin/true'));
    const benign = join(FIXTURES, 'benign', 'data.pkl');
    const r = ltrack(['vet', '--each', '--jobs', '2', '--timeout', '20', malicious, benign, '--out', out, '--format', 'json']);
    expect(r.code, r.stderr).toBe(1); // one candidate blocked
    const doc = JSON.parse(r.stdout) as { candidates: { paths: string[]; exitCode: number; report: Report }[] };
    expect(doc.candidates.map((c) => [c.paths, c.exitCode])).toEqual([
      [[malicious], 1],
      [[benign], 0],
    ]);

    const [mDir, bDir] = [await candidateDir(out, 1), await candidateDir(out, 2)];
    const [mReport, bReport] = [await readReport(mDir), await readReport(bDir)];
    expect(mReport.verdict.status).toBe('block');
    // still running when the benign one was done: stopped at its time limit, in its probe
    expect(mReport.findings.some((f) => f.ruleId === 'LT-SBX-001' && /probe/.test(f.message))).toBe(true);
    expect(bReport.verdict.status).toBe('pass');
    expect(bReport.verdict.reasons).toEqual([]);
    expect(bReport.findings).toEqual([]);
    // the kernel saw the malicious load run /bin/true, and that is in the malicious report only
    expect(mReport.findings.some((f) => f.source === 'dynamic')).toBe(true);
    const [mEvents, bEvents] = [await readEvents(mDir), await readEvents(bDir)];
    expect(mEvents.some(execsTrue)).toBe(true);
    expect(bEvents.some(execsTrue)).toBe(false);
    expect(bEvents.some((e) => e.path?.includes('system-then-blocks.pkl'))).toBe(false);
    // each report is one cgroup's, and the two cgroups and process sets are disjoint
    const mCgroups = new Set(mEvents.map((e) => e.cgroup));
    const bCgroups = new Set(bEvents.map((e) => e.cgroup));
    expect(mCgroups.size).toBe(1);
    expect(bCgroups.size).toBe(1);
    expect([...bCgroups][0]).not.toBe([...mCgroups][0]);
    const mPids = new Set(mEvents.map((e) => e.tgid));
    expect(bEvents.filter((e) => mPids.has(e.tgid))).toEqual([]);
    expect(bReport.stats.events).toBe(bEvents.length);
    // side by side, not one after the other: the kernel's timestamps of the two runs overlap
    const span = (es: Ev[]) => [Math.min(...es.map((e) => e.ts)), Math.max(...es.map((e) => e.ts))] as const;
    const [m0, m1] = span(mEvents);
    const [b0, b1] = span(bEvents);
    expect(m0 < b1 && b0 < m1).toBe(true);
  });

  it("keeps one candidate's failed sandbox (killed at its time limit) out of the verdict of the one beside it", async () => {
    const out = join(dir, 'timeout');
    // time.sleep(600) at load, as a protocol 0 pickle: the sandbox is killed at --timeout
    const sleeper = join(dir, 'sleeper.pkl');
    await writeFile(sleeper, 'ctime\nsleep\n(I600\ntR.');
    const benign = join(FIXTURES, 'benign', 'data.pkl');
    const r = ltrack(['vet', '--each', '--jobs', '2', '--timeout', '45', sleeper, benign, '--out', out, '--format', 'json']);
    const doc = JSON.parse(r.stdout) as { candidates: { exitCode: number; report: Report }[] };
    const [sleeping, passing] = doc.candidates.map((c) => c.report);
    expect(sleeping!.verdict.status).not.toBe('pass');
    expect(sleeping!.verdict.reasons.some((x) => /time limit/.test(x))).toBe(true);
    expect(passing!.verdict.status).toBe('pass');
    expect(passing!.verdict.reasons).toEqual([]);
    expect(doc.candidates[1]!.exitCode).toBe(0);
    expect(r.code).not.toBe(0);
  });

  it('keeps the existing meaning of several PATHs without --each: one candidate, one sandbox, one report', () => {
    const a = join(FIXTURES, 'benign', 'data.pkl');
    const b = join(FIXTURES, 'benign', 'ordered_proto2.pkl');
    const one = ltrack(['vet', a, b, '--format', 'json']);
    expect(one.code, one.stderr).toBe(0);
    const report = JSON.parse(one.stdout) as Report;
    expect(report.targets.map((t) => t.path).sort()).toEqual([a, b].sort());
    expect(report.verdict.status).toBe('pass');
  });
});
