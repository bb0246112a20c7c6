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
  'decoy SSH key read': { kind: 'file_open', path: '/home/ltrack/.ssh/id_rsa', flags: 0 },
  'decoy AWS credentials read': { kind: 'file_open', path: '/home/ltrack/.aws/credentials', flags: 0 },
};

describe('rule coverage by phase', async () => {
  const rules = await loadRuleSet();
  const fired = (e: TraceEvent) => matchEvents(rules, [e]).map((d) => d.ruleId);

  for (const [what, event] of Object.entries(harmful)) {
    it(`a ${what} is a finding in every phase after go`, () => {
      for (const phase of AFTER_GO) expect(fired({ ...base, ...event, phase } as TraceEvent), `${what} in ${phase}`).not.toEqual([]);
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

  it('an install-only rule is covered from import on by a rule of the same kinds with no conditions', () => {
    for (const rule of rules.rules) {
      if (!rule.phases || rule.phases.join() !== 'install') continue;
      const wider = rules.rules.find(
        (r) => r !== rule && (r.conditions ?? []).length === 0 && !r.chain && rule.kinds!.every((k) => r.kinds?.includes(k)) && ['import', 'load', 'probe'].every((p) => !r.phases || r.phases.includes(p as Phase)),
      );
      expect(wider, `${rule.id} has no wider rule after install`).toBeDefined();
    }
  });
});
