import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { join } from 'node:path';
import { ltrack } from '../helpers/cli.js';
import { FIXTURES } from '../helpers/fixtures.js';
import { combinedExit } from '../../src/cli/commands/vet.js';
import { ExitCode } from '../../src/core/exit.js';
import type { Report } from '../../src/core/report.js';

/** `vet --each` without a sandbox: candidates, their order, the combined exit code, usage errors. */
describe('ltrack vet --each (CLI, static only)', () => {
  it("combines candidates' exit codes: any block, else any bad input, else any incomplete, else pass", () => {
    const codes = fc.array(fc.constantFrom(ExitCode.Pass, ExitCode.Blocked, ExitCode.BadInput, ExitCode.Incomplete));
    fc.assert(
      fc.property(codes, (cs) => {
        const want = cs.includes(ExitCode.Blocked) ? 1 : cs.includes(ExitCode.BadInput) ? 2 : cs.includes(ExitCode.Incomplete) ? 3 : 0;
        expect(combinedExit(cs)).toBe(want);
      }),
    );
  });

  it('gives every PATH its own report, in PATH order, and a missing one its own error', () => {
    const malicious = join(FIXTURES, 'malicious', 'system.pkl');
    const benign = join(FIXTURES, 'benign', 'data.pkl');
    const missing = join(FIXTURES, 'no-such-file.pkl');
    const r = ltrack(['vet', '--each', '--static-only', malicious, missing, benign, '--format', 'json']);
    const doc = JSON.parse(r.stdout) as { candidates: ({ paths: string[]; exitCode: number; report: Report } | { paths: string[]; exitCode: number; error: { message: string } })[] };
    expect(doc.candidates.map((c) => c.paths)).toEqual([[malicious], [missing], [benign]]);
    const [m, x, b] = doc.candidates;
    expect('report' in m! && m.report.verdict.status).toBe('block');
    expect('report' in m! && m.report.targets.map((t) => t.path)).toEqual([malicious]);
    expect('report' in b! && b.report.targets.map((t) => t.path)).toEqual([benign]);
    expect('report' in b! && b.report.findings).toEqual([]);
    expect(x!.exitCode).toBe(2);
    expect(r.stderr).toContain('no-such-file.pkl');
    expect(r.code).toBe(1); // a block outranks the bad input
  });

  it('refuses --jobs without --each, and a --jobs that is no positive integer', () => {
    const a = join(FIXTURES, 'benign', 'data.pkl');
    const without = ltrack(['vet', '--jobs', '2', a, a]);
    expect(without.code).toBe(2);
    expect(without.stderr).toMatch(/--jobs needs --each/);
    const zero = ltrack(['vet', '--each', '--jobs', '0', a]);
    expect(zero.code).toBe(2);
    expect(zero.stderr).toMatch(/--jobs must be a positive integer/);
  });
});
