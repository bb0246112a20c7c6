import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { projectPath } from '../../src/core/paths.js';
import { describe, expect, it } from 'vitest';
import { FIXTURES, fixtureIndex } from '../helpers/fixtures.js';
import { loadUnchecked, ranTrue } from '../helpers/unchecked.js';
import { CLI_BIN } from '../helpers/cli.js';

/**
 * Issue #12 item 5 fixtures (fixtures/gen/integrity_pickle.py): a grammar corner the C unpickler
 * accepts, or a bound of the static analysis, in front of os.system('/bin/true'). Each one runs its
 * payload when loaded with the checks off (real sandbox, real loader), and a vet blocks it on the
 * static analysis alone: the expected rule at high or above, from the static side.
 */
const entries = fixtureIndex().filter((e) => e.file.startsWith('integrity_pickle/'));
const rank: Record<string, number> = { info: 0, low: 1, medium: 2, high: 3, critical: 4 };

interface Report {
  verdict: { status: string };
  findings: { ruleId: string; source: string; severity: string; location?: { file?: string } }[];
}

/** The built CLI, without blocking the test worker for the minute a sandboxed vet takes. */
function ltrackAsync(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_BIN, ...args], { cwd: projectPath(), env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('item 5 fixtures: where a scanner would give up, the loader goes on', () => {
  it('there is one per grammar trick and per analysis bound', () => {
    expect(entries.length).toBeGreaterThanOrEqual(9);
  });

  it.each(entries.map((e) => [e.file, e] as const))('%s runs its payload when loaded unchecked', async (_name, e) => {
    const run = await loadUnchecked({ models: [{ hostPath: join(FIXTURES, e.file), format: e.format }] });
    expect(ranTrue(run.events), `${e.file}: /bin/true was not executed (incomplete: ${run.incomplete.join('; ')})`).toBe(true);
  });

  // Every file must carry its own blocking static finding, so each would be blocked alone.
  const blockedOneByOne = (report: Report) => {
    for (const e of entries) {
      const hits = report.findings.filter((f) => f.source === 'static' && f.location?.file?.endsWith(e.file) && rank[f.severity]! >= rank.high!);
      expect(
        hits.map((f) => f.ruleId),
        e.file,
      ).toContain(e.rule);
    }
  };

  it('a static-only vet of the folder exits 1, each file with its blocking static finding', async () => {
    const r = await ltrackAsync(['vet', '--static-only', '--format', 'json', join(FIXTURES, 'integrity_pickle')]);
    expect(r.code, r.stderr.slice(-2000)).toBe(1);
    blockedOneByOne(JSON.parse(r.stdout) as Report);
  });

  it('a full vet (static analysis, then the traced sandboxed load) of the folder exits 1', async () => {
    const r = await ltrackAsync(['vet', '--format', 'json', join(FIXTURES, 'integrity_pickle')]);
    expect(r.code, r.stderr.slice(-2000)).toBe(1);
    blockedOneByOne(JSON.parse(r.stdout) as Report);
  }, 900_000);
});
