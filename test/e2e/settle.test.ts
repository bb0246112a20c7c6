import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Report } from '../../src/core/report.js';
import { ltrack } from '../helpers/cli.js';

/**
 * A class not on the allowlist that a pickle only reconstructs (LT-PKL-008) is settled by a load in
 * the real sandbox, and only with the kernel's account that its module was resolved: the harness's
 * own record that the load completed is not evidence (test/integrity/policy.test.ts covers a forged
 * record). These are the positive and negative controls on the real kernel.
 */
const dir = mkdtempSync(join(tmpdir(), 'ltrack-settle-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function pickle(name: string, source: string): string {
  const path = join(dir, name);
  const r = spawnSync('/usr/bin/python3', ['-c', `import pickle, sys\n${source}\nopen(sys.argv[1], 'wb').write(pickle.dumps(obj, protocol=2))`, path], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return path;
}

const vet = (path: string) => {
  const r = ltrack(['vet', '--format', 'json', path]);
  return { code: r.code, report: JSON.parse(r.stdout) as Report, stderr: r.stderr };
};

describe('unknown classes settled by a traced load', () => {
  it('email.message.Message: the load resolves email.message and email._policybase, the kernel sees them opened, the vet passes', () => {
    const path = pickle('message.pkl', 'import email.message\nobj = email.message.Message()');
    const { code, report, stderr } = vet(path);
    expect(report.findings.filter((f) => f.ruleId === 'LT-PKL-008').map((f) => f.evidence.module)).toEqual(['email.message', 'email._policybase']);
    expect(report.verdict.reasons, stderr).toEqual([]);
    expect(code).toBe(0);
  });

  it('a class whose module the sandbox does not have: the load fails, the vet is incomplete and names --deps', () => {
    // GLOBAL 'ltrack_absent_pkg Thing', EMPTY_TUPLE, NEWOBJ, STOP: written by hand, no such module exists anywhere
    const path = join(dir, 'absent.pkl');
    spawnSync('/usr/bin/python3', ['-c', "import sys; open(sys.argv[1], 'wb').write(b'\\x80\\x02cltrack_absent_pkg\\nThing\\n)\\x81.')", path]);
    const { code, report } = vet(path);
    expect(report.verdict.status).toBe('incomplete');
    expect(report.verdict.reasons).toEqual([
      expect.stringMatching(/absent\.pkl: globals not on the allowlist \(ltrack_absent_pkg\.Thing\) were never confirmed, because its sandboxed load failed .*--deps/),
    ]);
    expect(code).toBe(3);
  });
});
