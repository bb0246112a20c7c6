import { describe, expect, it } from 'vitest';
import { tagPhases } from '../../src/vet/phases.js';
import type { TraceEvent } from '../../src/core/event.js';

const ev = (ts: number): TraceEvent => ({ ts, kind: 'file_open', pid: 1, tgid: 1, ppid: 0, uid: 0, cgroup: 0, mntns: 0, comm: 'python3', count: 1 });

describe('tagPhases', () => {
  it('puts each event in the phase whose span holds its timestamp', () => {
    const events = [ev(5), ev(10), ev(15), ev(25), ev(31), ev(99)];
    tagPhases(events, [
      { phase: 'load', startNs: 20, endNs: 30 },
      { phase: 'import', startNs: 10, endNs: 20 },
      { phase: 'probe', startNs: 30, endNs: 40 },
    ]);
    expect(events.map((e) => e.phase)).toEqual(['startup', 'import', 'import', 'load', 'probe', 'probe']);
  });

  it('calls everything startup when the harness never announced a phase', () => {
    const events = [ev(1), ev(2)];
    tagPhases(events, []);
    expect(events.map((e) => e.phase)).toEqual(['startup', 'startup']);
  });
});
