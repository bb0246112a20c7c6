import { describe, expect, it } from 'vitest';
import { loadRuleSet, matchEvents, compileKernelSubset, parseRuleFile, runRuleTests } from '../../src/rules/index.js';
import { compileCondition, globToRegExp } from '../../src/rules/match.js';
import type { TraceEvent } from '../../src/core/event.js';
import type { RuleSet } from '../../src/rules/index.js';

const ev = (e: Partial<TraceEvent>): TraceEvent => ({ ts: 1, kind: 'file_open', pid: 10, tgid: 10, ppid: 1, uid: 65534, cgroup: 1, mntns: 1, comm: 'python3', count: 1, phase: 'load', ...e });

const RULE = (extra: string) => `[[rule]]
id = "LT-TEST-001"
title = "a test rule"
description = "a rule made by the test suite"
source = "dynamic"
severity = "high"
cvss = "CVSS:4.0/AV:L/AC:L/AT:N/PR:N/UI:P/VC:H/VI:H/VA:N/SC:N/SI:N/SA:N"
mitre = ["T1059"]
action = "alert"
${extra}`;

describe('the default rule set', async () => {
  const set = await loadRuleSet();
  it('loads, has a stable digest and covers the required ATT&CK tactics', async () => {
    expect(set.digest).toBe((await loadRuleSet()).digest);
    const mitre = new Set(set.rules.flatMap((r) => r.mitre));
    // Execution, Persistence, Privilege Escalation, Defense Evasion, Credential Access, Exfiltration
    for (const t of ['T1059.006', 'T1546.018', 'T1548', 'T1027', 'T1552.004', 'T1041']) expect(mitre, t).toContain(t);
  });
  it("passes every rule's inline cases, and every dynamic rule has both kinds", () => {
    const { results, untested } = runRuleTests(set);
    expect(results.length).toBeGreaterThan(30);
    expect(results.filter((r) => !r.passed)).toEqual([]);
    expect(untested).toEqual([]);
  });
  it('folds repeats into one detection with a count', () => {
    const reads = Array.from({ length: 50 }, () => ev({ path: '/home/ltrack/.ssh/id_rsa', decoy: '/home/ltrack/.ssh/id_rsa', flags: 0 }));
    const d = matchEvents(set, reads).filter((x) => x.ruleId === 'LT-FILE-001');
    expect(d).toHaveLength(1);
    expect(d[0]!.evidence.count).toBe(50);
  });
  it('matches the exfiltration chain only inside one process tree', () => {
    const tree = [
      ev({ ts: 1, tgid: 10, path: '/home/ltrack/.netrc', decoy: '/home/ltrack/.netrc', flags: 0 }),
      ev({ ts: 2, kind: 'exec', tgid: 11, ppid: 10, path: '/usr/bin/curl', argv: ['curl'] }),
      ev({ ts: 3, kind: 'connect', tgid: 11, ppid: 10, family: 'inet', addr: '127.0.0.1', port: 9 }),
    ];
    expect(matchEvents(set, tree).map((d) => d.ruleId)).toContain('LT-CHAIN-001');
    const strangers = tree.map((e, i) => ({ ...e, tgid: 100 + i, ppid: 1 }));
    expect(matchEvents(set, strangers).map((d) => d.ruleId)).not.toContain('LT-CHAIN-001');
  });
});

describe('conditions', () => {
  const t = (op: string, field: string, value: unknown, e: Partial<TraceEvent>) => compileCondition({ field, op: op as never, value: value as never })(ev(e));
  it('implement every operator and its negation', () => {
    expect(t('eq', 'port', 9, { port: 9 })).toBe(true);
    expect(t('not_eq', 'port', 9, { port: 9 })).toBe(false);
    expect(t('in', 'comm', ['sh', 'python3'], {})).toBe(true);
    expect(t('prefix', 'path', '/tmp/', { path: '/tmp/x.so' })).toBe(true);
    expect(t('suffix', 'path', '.pth', { path: '/a/b.pth' })).toBe(true);
    expect(t('glob', 'path', '/home/*/.ssh/*', { path: '/home/u/.ssh/id_rsa' })).toBe(true);
    expect(t('glob', 'path', '/home/*/.ssh/*', { path: '/home/u/x/.ssh/id_rsa' })).toBe(false);
    expect(t('regex', 'cmdline', '^sh -c ', { argv: ['sh', '-c', 'id'] })).toBe(true);
    expect(t('cidr', 'addr', ['127.0.0.0/8'], { addr: '127.0.0.53' })).toBe(true);
    expect(t('not_cidr', 'addr', ['127.0.0.0/8'], { addr: '127.0.0.53' })).toBe(false);
    expect(t('cidr', 'addr', ['::1/128'], { addr: '::1' })).toBe(true);
    expect(t('eq', 'write', true, { flags: 0o101 })).toBe(true);
    expect(t('not_prefix', 'path', '/usr/', {})).toBe(false); // a missing field satisfies nothing
  });
  it('globs: ** crosses folders, * does not', () => {
    expect(globToRegExp('**/site-packages/**').test('/usr/lib/python3/site-packages/a/b.py')).toBe(true);
    expect(globToRegExp('/etc/cron*/**').test('/etc/cron.d/job')).toBe(true);
  });
});

describe('schema', () => {
  it.each([
    ['an unknown operator', 'kinds = ["exec"]\nconditions = [{ field = "path", op = "like", value = "x" }]', /schema/],
    ['an unknown event kind', 'kinds = ["teleport"]', /schema/],
    ['a chain and kinds together', 'kinds = ["exec"]\nchain = [{ kinds = ["exec"] }, { kinds = ["connect"] }]', /schema/],
    ['a bad regex', 'kinds = ["exec"]\nconditions = [{ field = "path", op = "regex", value = "(" }]', /condition on path/],
    ['a bad CIDR', 'kinds = ["connect"]\nconditions = [{ field = "addr", op = "cidr", value = "10.0.0.0" }]', /not a CIDR/],
  ])('rejects %s', (_what, extra, why) => {
    expect(() => parseRuleFile(RULE(extra), 'x.toml')).toThrow(why);
  });
  it('rejects an incomplete CVSS vector and a bad id', () => {
    expect(() => parseRuleFile(RULE('kinds = ["exec"]').replace('/SA:N"', '"'), 'x.toml')).toThrow(/schema/);
    expect(() => parseRuleFile(RULE('kinds = ["exec"]').replace('LT-TEST-001', 'lt-1'), 'x.toml')).toThrow(/schema/);
  });
});

describe('kernel subset', () => {
  it('compiles exact paths, prefixes, exec paths and ports, and leaves the rest to TypeScript', () => {
    const mk = (extra: string, id: string) => parseRuleFile(RULE(extra).replace('LT-TEST-001', id), 'x.toml')[0]!;
    const rules = [
      mk('kinds = ["file_open"]\nconditions = [{ field = "path", op = "in", value = ["/etc/shadow"] }]', 'LT-TEST-001'),
      mk('kinds = ["file_open"]\nconditions = [{ field = "path", op = "prefix", value = "/root/" }]', 'LT-TEST-002'),
      mk('kinds = ["exec"]\nconditions = [{ field = "path", op = "eq", value = "/usr/bin/curl" }]', 'LT-TEST-003'),
      mk('kinds = ["connect"]\nconditions = [{ field = "port", op = "in", value = [22, 53] }]', 'LT-TEST-004'),
      mk('kinds = ["connect"]\nconditions = [{ field = "addr", op = "cidr", value = "127.0.0.0/8" }]', 'LT-TEST-005'),
    ];
    const set = { rules } as unknown as RuleSet;
    expect(compileKernelSubset(set)).toEqual({
      ruleIds: ['LT-TEST-001', 'LT-TEST-002', 'LT-TEST-003', 'LT-TEST-004'],
      openExact: [{ path: '/etc/shadow', rule: 0 }],
      openPrefix: [{ prefix: '/root/', rule: 1 }],
      execPath: [{ path: '/usr/bin/curl', rule: 2 }],
      connectPort: [
        { port: 22, rule: 3 },
        { port: 53, rule: 3 },
      ],
    });
  });
});
