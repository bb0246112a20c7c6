import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { derivePhases, lingerers, MARKER_ORDER, phaseGaps, tagPhases } from '../../src/vet/phases.js';
import type { TraceEvent } from '../../src/core/event.js';

const HARNESS = 7;
const base = { pid: 1, ppid: 1, uid: 65534, cgroup: 0, mntns: 0, comm: 'python3', count: 1 };
const ev = (ts: number, tgid = HARNESS): TraceEvent => ({ ts, kind: 'file_open', tgid, ...base, pid: tgid });
/** The failed open a marker syscall leaves in the trace. */
const marker = (ts: number, name: string, tgid = HARNESS): TraceEvent => ({ ...ev(ts, tgid), path: `/ltrack/phase/${name}`, ret: -2, pathUnresolved: true });
const fork = (ts: number, parent: number, child: number): TraceEvent => ({ ...ev(ts, parent), kind: 'fork', childTgid: child });
const exit = (ts: number, tgid: number): TraceEvent => ({ ...ev(ts, tgid), kind: 'exit', exitCode: 0 });
const honest = [marker(10, 'go'), marker(20, 'install'), marker(30, 'import'), marker(40, 'load'), marker(50, 'probe'), marker(60, 'done')];

describe('phases from the kernel-seen marker syscalls', () => {
  it("follows the harness's markers: the first phase starts at go, each ends at the next marker", () => {
    const d = derivePhases(honest);
    expect(d.harnessTgid).toBe(HARNESS);
    expect(d.goNs).toBe(10);
    expect(d.doneNs).toBe(60);
    expect(d.spans).toEqual([
      { phase: 'install', startNs: 10, endNs: 30 },
      { phase: 'import', startNs: 30, endNs: 40 },
      { phase: 'load', startNs: 40, endNs: 50 },
      { phase: 'probe', startNs: 50, endNs: 60 },
    ]);
    expect(d.forged).toEqual([]);
    expect(phaseGaps(d)).toEqual([]);
  });

  it('orders markers by kernel time, not by the order the ring buffer delivered them', () => {
    const d = derivePhases([...honest].reverse());
    expect(d.spans.map((s) => s.phase)).toEqual(['install', 'import', 'load', 'probe']);
    expect(d.forged).toEqual([]);
  });

  it('refuses a marker from another process (a setup.py, a forked payload) and reports it forged', () => {
    const d = derivePhases([...honest.slice(0, 2), marker(25, 'probe', 99), ...honest.slice(2)]);
    expect(d.spans.map((s) => s.phase)).toEqual(['install', 'import', 'load', 'probe']);
    expect(d.spans[0]).toEqual({ phase: 'install', startNs: 10, endNs: 30 });
    expect(d.forged).toEqual([expect.objectContaining({ marker: 'probe', tgid: 99, ts: 25 })]);
  });

  it('never enters startup, and refuses unknown names', () => {
    const d = derivePhases([marker(10, 'go'), marker(20, 'load'), marker(25, 'startup'), marker(26, 'static'), marker(27, 'load/../go'), marker(50, 'done')]);
    expect(d.spans).toEqual([{ phase: 'load', startNs: 10, endNs: 50 }]);
    expect(d.forged.map((f) => f.marker)).toEqual(['startup', 'static', 'load/../go']);
  });

  it('refuses a duplicate and an out-of-order marker from the harness itself (candidate code in its process)', () => {
    // a pickle in load announces probe early; the harness's own probe then repeats it, and a
    // forged "import" tries to go back
    const d = derivePhases([marker(10, 'go'), marker(20, 'load'), marker(25, 'probe'), marker(27, 'import'), marker(30, 'probe'), marker(40, 'done')]);
    expect(d.spans).toEqual([
      { phase: 'load', startNs: 10, endNs: 25 },
      { phase: 'probe', startNs: 25, endNs: 40 },
    ]);
    expect(d.forged.map((f) => [f.marker, f.why])).toEqual([
      ['import', 'import announced after probe'],
      ['probe', 'probe announced twice'],
    ]);
  });

  it('refuses a second go and anything after done', () => {
    const d = derivePhases([marker(10, 'go'), marker(15, 'go'), marker(20, 'load'), marker(30, 'done'), marker(35, 'probe'), marker(36, 'done')]);
    expect(d.spans).toEqual([{ phase: 'load', startNs: 10, endNs: 30 }]);
    expect(d.forged.map((f) => f.marker)).toEqual(['go', 'probe', 'done']);
  });

  it('says the run cannot be vouched for without go, without any phase, or without done', () => {
    expect(phaseGaps(derivePhases([ev(1)]))).toEqual([expect.stringContaining('go marker was never seen')]);
    expect(phaseGaps(derivePhases([marker(10, 'go')]))).toHaveLength(2);
    expect(phaseGaps(derivePhases([marker(10, 'go'), marker(20, 'load')]))).toEqual([expect.stringContaining('never reached its end marker')]);
  });

  it('ignores markers before go (go itself was not seen): nothing is judged, the run is incomplete', () => {
    const d = derivePhases([marker(20, 'load'), marker(30, 'done')]);
    expect(d.harnessTgid).toBeUndefined();
    expect(d.spans).toEqual([]);
    expect(d.forged).toEqual([]);
  });

  it('property: whatever markers anyone adds, accepted phases are unique, in order, and only from the harness', () => {
    const names = [...MARKER_ORDER, 'startup', 'static', 'evil'];
    const arb = fc.array(fc.record({ ts: fc.integer({ min: 11, max: 1000 }), name: fc.constantFrom(...names), tgid: fc.constantFrom(HARNESS, 99, 100) }), { maxLength: 40 });
    fc.assert(
      fc.property(arb, (extra) => {
        const d = derivePhases([marker(10, 'go'), ...extra.map((m) => marker(m.ts, m.name, m.tgid))]);
        const order = d.spans.map((s) => MARKER_ORDER.indexOf(s.phase as never));
        expect(order).toEqual([...order].sort((a, b) => a - b));
        expect(new Set(order).size).toBe(order.length);
        expect(d.spans.every((s) => s.phase !== 'startup')).toBe(true);
        for (let i = 1; i < d.spans.length; i++) expect(d.spans[i]!.startNs).toBeGreaterThanOrEqual(d.spans[i - 1]!.startNs);
        // every marker is either the go, accepted, or reported forged
        const accepted = d.spans.length + (d.doneNs === undefined ? 0 : 1);
        expect(1 + accepted + d.forged.length).toBe(1 + extra.length);
        expect(d.forged.filter((f) => f.tgid !== HARNESS)).toHaveLength(extra.filter((m) => m.tgid !== HARNESS).length);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('tagPhases', () => {
  it('puts each event in the phase whose span holds its timestamp; before go is startup', () => {
    const events = [ev(5), ev(10), ev(15), ev(35), ev(45), ev(55), ev(99)];
    tagPhases(events, derivePhases(honest).spans);
    expect(events.map((e) => e.phase)).toEqual(['startup', 'install', 'install', 'import', 'load', 'probe', 'probe']);
  });

  it('calls everything startup when go was never seen', () => {
    const events = [ev(1), ev(2)];
    tagPhases(events, []);
    expect(events.map((e) => e.phase)).toEqual(['startup', 'startup']);
  });
});

describe('processes that outlive the harness', () => {
  it('names a process forked after go that had not exited at done, from fork and exit events only', () => {
    const events = [
      ...honest,
      fork(42, HARNESS, 100), // waited for: exits before done
      exit(44, 100),
      fork(45, HARNESS, 101), // setsid + fork: the grandchild lives on
      fork(46, 101, 102),
      exit(47, 101),
      { ...ev(70, 102), kind: 'exec' as const, path: '/usr/bin/true', comm: 'true' },
      fork(75, 102, 103), // what its own children run is its doing too
      { ...ev(76, 103), kind: 'exec' as const, path: '/usr/bin/id', comm: 'id' },
      { ...exit(80, 102), comm: 'true' },
    ];
    const l = lingerers(events, derivePhases(events));
    expect(l).toEqual([{ tgid: 102, parent: 101, forkNs: 46, comm: 'true', exec: ['/usr/bin/true', '/usr/bin/id'] }]);
  });

  it('uses the harness exit when it never reached done, and nothing before go counts', () => {
    const events = [fork(5, 1, HARNESS), marker(10, 'go'), marker(20, 'load'), fork(25, HARNESS, 200), exit(30, HARNESS)];
    const d = derivePhases(events);
    expect(d.harnessExitNs).toBe(30);
    expect(lingerers(events, d).map((l) => l.tgid)).toEqual([200]);
  });

  it('finds none in an honest run', () => {
    const events = [...honest, fork(42, HARNESS, 100), exit(44, 100)];
    expect(lingerers(events, derivePhases(events))).toEqual([]);
  });
});
