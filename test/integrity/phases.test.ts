import { describe, expect, it } from 'vitest';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ltrack } from '../helpers/cli.js';
import { FIXTURES } from '../helpers/fixtures.js';
import { dialedLoopback, loadUnchecked, opened, ranTrue } from '../helpers/unchecked.js';
import type { Driver } from '../../src/sandbox/index.js';
import type { Report } from '../../src/core/report.js';
import type { TraceEvent } from '../../src/core/event.js';

/**
 * Verdict integrity of the dynamic run (issue #12 item 2, item 7's lingering processes, the fork
 * bomb defect), with fixtures from fixtures/gen/integrity_dynamic.py: each is first shown to do its
 * harm in the real sandbox with the tracer and no checks, then blocked by `ltrack vet` — with both
 * drivers. The vet's verdict must rest on the dynamic findings named here, not only on the static
 * ones (the pickles call builtins.exec, which the static analysis blocks on its own).
 */
const F = join(FIXTURES, 'integrity_dynamic');
const DECOY = '/home/ltrack/.ssh/id_rsa';
const pkl = (name: string) => ({ hostPath: join(F, `${name}.pkl`), format: 'pickle' });
const markerOpens = (events: TraceEvent[], name: string) => events.filter((e) => e.kind === 'file_open' && e.path === `/ltrack/phase/${name}`);

async function vet(driver: Driver, args: string[]): Promise<{ code: number | null; report: Report; stdout: string }> {
  const out = await mkdtemp(join(tmpdir(), 'ltrack-integrity-phases-'));
  const r = ltrack(['vet', ...args, '--sandbox', driver, '--out', out]);
  const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as Report;
  return { code: r.code, report, stdout: r.stdout + r.stderr };
}
const dynamicFinding = (report: Report, ruleId: string) => report.findings.filter((f) => f.ruleId === ruleId && f.source === 'dynamic');

describe.each(['docker', 'bwrap'] as Driver[])('%s: the candidate cannot decide the phases, outlast the harness, or hide a fork bomb', (driver) => {
  it('a pickle that forges the phase channel and markers still runs /bin/true and reads the decoy unchecked; the vet blocks it', async () => {
    const u = await loadUnchecked({ driver, models: [pkl('forge_phases')] });
    expect(ranTrue(u.events)).toBe(true);
    expect(opened(u.events, DECOY)).toBe(true);
    // its forgeries reached the kernel's view (the marker opens) and were refused
    expect(markerOpens(u.events, 'startup')).toHaveLength(1);
    expect(u.sandbox.forgedMarkers?.map((f) => f.marker)).toEqual(expect.arrayContaining(['startup']));
    // nothing it did is tagged startup: its exec is in the load phase
    expect(u.events.filter((e) => e.kind === 'exec' && e.path === '/usr/bin/true').map((e) => `${e.argv?.[1]}:${e.phase}`)).toEqual(['pickle:load']);

    const { code, report, stdout } = await vet(driver, [join(F, 'forge_phases.pkl')]);
    expect(code, stdout).toBe(1);
    expect(dynamicFinding(report, 'LT-SBX-005').length).toBeGreaterThan(0);
    expect(dynamicFinding(report, 'LT-EXEC-001').map((f) => f.phase)).toContain('load');
    expect(dynamicFinding(report, 'LT-FILE-001').length).toBeGreaterThan(0);
  });

  it("a dependency's .pth and __init__ that forge phases from inside the harness process are seen and blocked (--deps)", async () => {
    const deps = { hostPath: join(FIXTURES, 'deps', 'forge-phases', 'requirements.txt') };
    const wheelhouse = join(FIXTURES, 'deps', 'forge-phases', 'wheelhouse');
    const model = join(FIXTURES, 'benign', 'torch_module.pt');
    const u = await loadUnchecked({ driver, models: [{ hostPath: model, format: 'torch-zip' }], deps, wheelhouse });
    expect(ranTrue(u.events)).toBe(true);
    expect(opened(u.events, DECOY)).toBe(true);
    // both carriers ran (the .pth when the site folder was added, the __init__ when imported), in import
    const trues = u.events.filter((e) => e.kind === 'exec' && e.path === '/usr/bin/true');
    expect(trues.map((e) => `${e.argv?.[1]}:${e.phase}`).sort()).toEqual(['init:import', 'pth:import']);

    const { code, report, stdout } = await vet(driver, [model, '--deps', deps.hostPath, '--wheelhouse', wheelhouse]);
    expect(code, stdout).toBe(1);
    expect(dynamicFinding(report, 'LT-SBX-005').length).toBeGreaterThan(0);
    expect(dynamicFinding(report, 'LT-EXEC-001').map((f) => f.phase)).toContain('import');
    expect(dynamicFinding(report, 'LT-FILE-001').map((f) => f.phase)).toContain('import');
  });

  it('a daemonised child that acts after the load returned is observed before the kill and blocked', async () => {
    const u = await loadUnchecked({ driver, models: [pkl('daemon')] });
    // its harm came after the harness's done marker: the run was kept open to see it
    const done = markerOpens(u.events, 'done')[0];
    expect(done).toBeDefined();
    const late = u.events.filter((e) => e.ts > done!.ts);
    expect(opened(late, '/tmp/ltrack-canary-daemon')).toBe(true);
    expect(ranTrue(late)).toBe(true);
    expect(u.sandbox.lingering?.length).toBeGreaterThan(0);

    const { code, report, stdout } = await vet(driver, [join(F, 'daemon.pkl')]);
    expect(code, stdout).toBe(1);
    expect(dynamicFinding(report, 'LT-SBX-006').length).toBeGreaterThan(0);
    expect(dynamicFinding(report, 'LT-EXEC-001').length).toBeGreaterThan(0);
  });

  it('a fork bomb that prints nothing is counted by the pids cgroup, not by its error text, and blocked', async () => {
    const u = await loadUnchecked({ driver, models: [pkl('forkbomb')], limits: { pids: 48 } });
    expect(u.sandbox.pidsLimitHits).toBeGreaterThan(0);
    // no error text to go by: the load "succeeded" and nothing was printed
    expect(u.sandbox.reports.find((p) => p.phase === 'load')?.ok).toBe(true);
    expect(u.sandbox.stdout + u.sandbox.stderr).not.toMatch(/fork|Resource temporarily unavailable|BlockingIOError/i);
    expect(u.events.filter((e) => e.kind === 'fork').length).toBeGreaterThan(30);

    const { code, report, stdout } = await vet(driver, [join(F, 'forkbomb.pkl')]);
    expect(code, stdout).toBe(1);
    expect(dynamicFinding(report, 'LT-SBX-004')[0]?.evidence.pidsLimitHits).toBeGreaterThan(0);
  });
});

describe('an honest run has no integrity finding', () => {
  it.each(['docker', 'bwrap'] as Driver[])('%s: a benign model: no forged marker, no lingering process, no pids limit hit, phases from the kernel', async (driver) => {
    const u = await loadUnchecked({ driver, models: [{ hostPath: join(FIXTURES, 'benign', 'torch_module.pt'), format: 'torch-zip' }] });
    expect(u.incomplete).toEqual([]);
    expect(u.sandbox.forgedMarkers).toEqual([]);
    expect(u.sandbox.lingering).toEqual([]);
    expect(u.sandbox.pidsLimitHits).toBe(0);
    expect(u.sandbox.phases.map((p) => [p.phase, p.ok])).toEqual([
      ['load', true],
      ['probe', true],
    ]);
    expect(dialedLoopback(u.events)).toBe(false);
  });
});
