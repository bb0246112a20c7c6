import { describe, expect, it } from 'vitest';
import type { KernelRuleSet } from '../../src/core/kernel-filter.js';
import { startTrace } from '../../src/trace/index.js';
import { compileRules, prefixKey } from '../../src/trace/rules.js';
import { collect, GATE, PYTHON, spawnGated } from './helpers.js';

const RULES: KernelRuleSet = {
  ruleIds: ['LT-T-HOSTNAME', 'LT-T-ETC', 'LT-T-TRUE', 'LT-T-DISCARD'],
  openExact: [{ path: '/etc/hostname', rule: 0 }],
  openPrefix: [{ prefix: '/etc/', rule: 1 }],
  execPath: [{ path: '/usr/bin/true', rule: 2 }],
  connectPort: [{ port: 9, rule: 3 }],
};

describe('kernel rules', () => {
  it('encode an LPM prefix key and the filtered kinds', () => {
    expect(prefixKey('/etc/').subarray(0, 9).toString('hex')).toBe('28000000' + Buffer.from('/etc/').toString('hex'));
    const c = compileRules(RULES);
    expect(c.entries.map((e) => [e.map, e.value.readUInt32LE()])).toEqual([
      ['lt_rule_open_exact', 0],
      ['lt_rule_open_prefix', 1],
      ['lt_rule_exec', 2],
      ['lt_rule_port', 3],
    ]);
    expect(c.kinds).toBe((1 << 3) | (1 << 1) | (1 << 5));
    expect(() => compileRules({ ...RULES, connectPort: [{ port: 9, rule: 7 }] })).toThrow(/rule index 7/);
  });

  it('let the kernel send only matching opens, execs and connects, tagged with the rule id', async () => {
    const g = spawnGated(PYTHON, [
      '-c',
      `import socket, subprocess\n${GATE}
open('/etc/hostname').read()
open('/etc/hosts').read()
open('/usr/lib/os-release').read()
socket.socket().connect_ex(('127.0.0.1', 9))
socket.socket().connect_ex(('127.0.0.1', 7))
subprocess.run(['/bin/sh', '-c', '/bin/true; exit 0'])
`,
    ]);
    const session = await startTrace({ pid: g.pid }, { kernelRules: RULES });
    g.release();
    const { events, stats } = await collect(session, g.exited);
    expect(g.stderr()).toBe('');
    expect(stats.tiers).toContain('kernel-rules');
    const resolved = events.filter((e) => e.kind === 'file_open' && e.ret! >= 0);
    // the shell and true read /etc/ld.so.cache: a match of the prefix rule too; nothing else passes
    for (const e of resolved) expect([e.path?.startsWith('/etc/'), e.ruleId !== undefined]).toEqual([true, true]);
    const opens = resolved.filter((e) => e.tgid === g.pid);
    expect(opens.map((e) => [e.path, e.ruleId])).toEqual([
      ['/etc/hostname', 'LT-T-HOSTNAME'],
      ['/etc/hosts', 'LT-T-ETC'],
    ]);
    expect(events.filter((e) => e.kind === 'connect').map((e) => [e.port, e.ruleId])).toEqual([[9, 'LT-T-DISCARD']]);
    expect(events.filter((e) => e.kind === 'exec').map((e) => [e.path, e.ruleId])).toEqual([['/usr/bin/true', 'LT-T-TRUE']]);
    // kinds without rules are not filtered: the shell's fork and every exit still arrive
    expect(events.filter((e) => e.kind === 'fork').length).toBeGreaterThanOrEqual(2);
    expect(events.some((e) => e.kind === 'exit' && e.tgid === g.pid)).toBe(true);
  });
});
