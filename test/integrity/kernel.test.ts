import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TraceEvent } from '../../src/core/event.js';
import type { Report } from '../../src/core/report.js';
import type { Driver } from '../../src/sandbox/index.js';
import { ltrack } from '../helpers/cli.js';
import { FIXTURES } from '../helpers/fixtures.js';
import { loadUnchecked, ranTrue } from '../helpers/unchecked.js';

/**
 * Issue #12 item 7 end to end, per driver: each fixture of fixtures/gen/integrity_kernel.py is
 * first loaded with ltrack's checks off (the real sandbox and tracer, no static gate, no rules) to
 * prove it does its harm there, then vetted: `ltrack vet` must block it (exit 1) with the dynamic
 * finding that names the harm, not only the static one its builtins.exec earns anyway.
 */
const fixture = (name: string) => join(FIXTURES, 'integrity_kernel', `${name}.pkl`);
const model = (name: string) => [{ hostPath: fixture(name), format: 'pickle' }];
const PLANTED_KEY = '/home/ltrack/.ssh/id_rsa';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ltrack-integrity-kernel-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

async function vetJson(driver: Driver, name: string, extra: string[] = []): Promise<{ code: number | null; report: Report; stderr: string }> {
  const out = join(dir, `${driver}-${name}`);
  const r = ltrack(['vet', fixture(name), '--sandbox', driver, '--out', out, ...extra]);
  const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as Report;
  return { code: r.code, report, stderr: r.stderr };
}
const dynamicRules = (report: Report) => new Set(report.findings.filter((f) => f.source === 'dynamic').map((f) => f.ruleId));
const line = (stdout: string, tag: string) => stdout.split('\n').find((l) => l.startsWith(`${tag} `));

describe.each(['docker', 'bwrap'] as Driver[])('kernel-side integrity (%s)', (driver) => {
  it('decoy read through another path: unchecked it reads the key; the vet matches it by inode and blocks', async () => {
    const { events, sandbox, incomplete } = await loadUnchecked({ driver, models: model('decoy_alias') });
    expect(incomplete).toEqual([]);
    // harm: the key's bytes were read by a path that is not the planted one
    const read = line(sandbox.stdout, 'DECOY-ALIAS');
    expect(read, sandbox.stdout + sandbox.stderr).toMatch(/^DECOY-ALIAS (source|rename) \S+ True$/);
    expect(sandbox.stdout).toMatch(/^DECOY-ALIAS-FAILED link 18$/m); // EXDEV: the decoy is its own mount
    const key = sandbox.decoys.find((d) => d.path === PLANTED_KEY)!;
    const byIdentity = events.filter((e) => e.kind === 'file_open' && e.inode === key.inode && e.dev === key.dev);
    expect(byIdentity.length).toBeGreaterThan(0);
    expect(byIdentity.every((e) => e.path !== PLANTED_KEY)).toBe(true);

    const v = await vetJson(driver, 'decoy_alias');
    expect(v.code, v.stderr).toBe(1);
    const f = v.report.findings.find((x) => x.ruleId === 'LT-FILE-001' && x.source === 'dynamic');
    expect(f?.evidence).toMatchObject({ decoy: PLANTED_KEY });
    expect(f?.evidence.path).not.toBe(PLANTED_KEY);
  });

  it('DNS by sendmmsg: unchecked it reaches the sink; traced now, the vet blocks and sees no untraced traffic', async () => {
    const { events, sandbox } = await loadUnchecked({ driver, models: model('dns_sendmmsg'), network: 'sinkhole' });
    expect(sandbox.stdout).toContain('MMSG-SENT 1');
    expect(sandbox.sinkhole?.filter((r) => r.proto === 'dns').map((r) => r.name)).toEqual(['exfil-mmsg.ltrack.invalid']);
    const sends = events.filter((e: TraceEvent) => e.kind === 'sendmsg' && e.port === 53);
    expect(sends.map((e) => e.addr)).toEqual(['127.0.0.1']);

    const v = await vetJson(driver, 'dns_sendmmsg', ['--network', 'sinkhole']);
    expect(v.code, v.stderr).toBe(1);
    expect(dynamicRules(v.report)).toContain('LT-NET-002');
    // every capture is explained by a traced call: no tracer-evasion finding
    expect(dynamicRules(v.report)).not.toContain('LT-NET-006');
  });

  it('persistence: unchecked the planted .pth runs in the next interpreter; the vet blocks on the writes', async () => {
    const { events, sandbox } = await loadUnchecked({ driver, models: model('persist') });
    const pth = line(sandbox.stdout, 'PERSIST-PTH')?.split(' ')[1];
    expect(pth, sandbox.stdout + sandbox.stderr).toMatch(/^\/home\/ltrack\/\.local\/lib\/python3\.\d+\/site-packages\/ltrack-persist\.pth$/);
    const written = events.filter((e) => e.kind === 'file_open' && e.path === pth);
    expect(written.some((e) => (e.ret ?? -1) >= 0 && ((e.flags ?? 0) & 0o3) !== 0)).toBe(true);
    expect(ranTrue(events)).toBe(true); // the .pth's line ran /bin/true at the fresh interpreter's start
    expect(sandbox.stdout).toContain('PERSIST-ALIASES ok');

    const v = await vetJson(driver, 'persist');
    expect(v.code, v.stderr).toBe(1);
    const rules = dynamicRules(v.report);
    expect(rules).toContain('LT-FILE-006');
    expect(rules).toContain('LT-FILE-005'); // the authorized_keys append, refused or not
    // ~/.bash_aliases was never opened: it was renamed into place
    const aliases = v.report.findings.find((f) => f.ruleId === 'LT-FILE-008');
    expect(aliases?.evidence).toMatchObject({ path: '/home/ltrack/.bash_aliases', op: 'rename' });
  });

  it('racing connect: the traced peer is the one the kernel used, not what a thread wrote there during the call', async () => {
    const { events, sandbox } = await loadUnchecked({ driver, models: model('racing_connect') });
    const [, port, ret, err, memory] = line(sandbox.stdout, 'RACE')?.split(' ') ?? [];
    expect([ret, err, memory], sandbox.stdout + sandbox.stderr).toEqual(['-1', 'EINTR', '127.0.0.2']);
    const blocked = events.filter((e) => e.kind === 'connect' && e.port === Number(port) && e.ret === -512); // -ERESTARTSYS
    expect(blocked.map((e) => e.addr)).toEqual(['127.0.0.1']);

    const v = await vetJson(driver, 'racing_connect');
    expect(v.code, v.stderr).toBe(1);
    expect(dynamicRules(v.report)).toContain('LT-NET-001');
  });
});
