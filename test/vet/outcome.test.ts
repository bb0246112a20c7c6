import { describe, expect, it } from 'vitest';
import { outcomeDetections } from '../../src/vet/outcome.js';
import type { SandboxResult } from '../../src/sandbox/index.js';

const result = (over: Partial<SandboxResult>): SandboxResult => ({
  driver: 'docker',
  phases: [{ phase: 'load', startNs: 10, endNs: 50, ok: true }],
  reports: [],
  exitCode: 0,
  oomKilled: false,
  timedOut: false,
  outputTruncated: false,
  stdout: '',
  stderr: '',
  packages: [],
  pidsLimitHits: 0,
  forgedMarkers: [],
  lingering: [],
  decoys: [],
  ...over,
});
const ids = (r: SandboxResult) => outcomeDetections(r).map((d) => d.ruleId);

describe('run outcomes decided by what the host and kernel observed', () => {
  it('the pids limit comes from the cgroup counter, never from the error text a payload chooses', () => {
    expect(ids(result({ pidsLimitHits: 3 }))).toEqual(['LT-SBX-004']);
    // a payload that prints fork errors without hitting the limit is a failed load, not a fork bomb
    expect(ids(result({ phases: [{ phase: 'load', startNs: 10, endNs: 50, ok: false, error: "BlockingIOError: Resource temporarily unavailable (can't fork)" }] }))).toEqual(['LT-SBX-003']);
    // and one that hit it silently is still caught
    expect(ids(result({ pidsLimitHits: 1, phases: [{ phase: 'load', startNs: 10, endNs: 50, ok: true }] }))).toEqual(['LT-SBX-004']);
  });

  it('each forged marker and each lingering process is a finding, in the phase it happened', () => {
    const d = outcomeDetections(
      result({
        phases: [
          { phase: 'load', startNs: 10, endNs: 50, ok: true },
          { phase: 'probe', startNs: 50, endNs: 60, ok: true },
        ],
        forgedMarkers: [{ ts: 20, tgid: 7, comm: 'python3', marker: 'startup', why: 'not a phase the harness announces' }],
        lingering: [{ tgid: 9, parent: 8, forkNs: 55, comm: 'python3', exec: ['/usr/bin/true'] }],
      }),
    );
    expect(d.map((x) => [x.ruleId, x.phase])).toEqual([
      ['LT-SBX-005', 'load'],
      ['LT-SBX-006', 'probe'],
    ]);
    expect(d[1]!.evidence.exec).toEqual(['/usr/bin/true']);
  });
});
