import { describe, expect, it } from 'vitest';
import { loadRuleSet, matchEvents } from '../../src/rules/index.js';
import type { TraceEvent } from '../../src/core/event.js';
import type { Phase } from '../../src/core/phase.js';

/**
 * The shipped rule set against the phase threat model (src/vet/phases.ts): candidate code may run
 * in every phase after go, and code inside the harness process can move the phase forward (emit a
 * later marker early, suppress the harness's own). So exec, connect and decoy-secret rules must
 * apply in every phase after go, and no phase from import on may be more lenient than the one
 * before it — a forged forward move must never reduce coverage.
 */
const AFTER_GO: Phase[] = ['install', 'import', 'load', 'probe'];
const base = { ts: 1, pid: 100, tgid: 100, ppid: 1, uid: 65534, cgroup: 1, mntns: 1, comm: 'python3', count: 1 };
const harmful: Record<string, Omit<TraceEvent, keyof typeof base>> = {
  'exec of /bin/true (no shell)': { kind: 'exec', path: '/usr/bin/true', argv: ['/bin/true'] },
  'connect to 127.0.0.1:9': { kind: 'connect', family: 'inet', addr: '127.0.0.1', port: 9, ret: -111 },
  'DNS datagram': { kind: 'sendmsg', family: 'inet', addr: '127.0.0.53', port: 53 },
  // decoys are recognised by inode; the vet marks such opens with the decoy's path (src/vet/decoys.ts)
  'decoy SSH key read': { kind: 'file_open', path: '/home/ltrack/.ssh/id_rsa', decoy: '/home/ltrack/.ssh/id_rsa', flags: 0 },
  'decoy AWS credentials read': { kind: 'file_open', path: '/tmp/renamed', decoy: '/home/ltrack/.aws/credentials', flags: 0 },
};

describe('rule coverage by phase', async () => {
  const rules = await loadRuleSet();
  const fired = (e: TraceEvent) => matchEvents(rules, [e]).map((d) => d.ruleId);

  for (const [what, event] of Object.entries(harmful)) {
    it(`a ${what} is a finding in every phase after go`, () => {
      for (const phase of AFTER_GO) expect(fired({ ...base, ...event, phase }), `${what} in ${phase}`).not.toEqual([]);
    });
  }

  it('no rule stops applying when the phase moves forward from import (a forged forward move)', () => {
    const later: Phase[] = ['import', 'load', 'probe'];
    for (const rule of rules.rules) {
      if (!rule.phases) continue; // applies in every phase
      const on = later.filter((p) => rule.phases!.includes(p));
      expect(on.length === 0 || on.length === later.length, `${rule.id} phases ${rule.phases.join(',')}`).toBe(true);
    }
  });

  it('what an install-only rule catches is still caught from import on (its own match cases, moved forward)', () => {
    for (const rule of rules.rules) {
      if (!rule.phases || rule.phases.join() !== 'install') continue;
      const cases = (rule.tests ?? []).filter((t) => t.expect === 'match');
      expect(cases.length, `${rule.id} has no match case`).toBeGreaterThan(0);
      for (const t of cases) {
        for (const phase of ['import', 'load', 'probe'] as Phase[]) {
          expect(fired({ ...base, ...t.event, phase } as TraceEvent), `${rule.id} case ${JSON.stringify(t.event)} in ${phase}`).not.toEqual([]);
        }
      }
    }
  });
});
