import type { TraceEvent } from '../core/event.js';
import type { Phase } from '../core/phase.js';
import { MOUNTS } from '../sandbox/plan.js';

/** A harness phase as the kernel saw it: [startNs, endNs) on the CLOCK_MONOTONIC the kernel stamps events with. */
interface PhaseSpan {
  phase: Phase;
  startNs: number;
  endNs: number;
}

/**
 * The harness's marker sequence, in the only order it ever emits them. `go` opens the run (nothing
 * of the candidate has run before it), `done` closes it (the harness then only lingers while
 * processes it did not start are alive). `startup` is not in it: no marker can enter startup.
 */
export const MARKER_ORDER = ['go', 'install', 'import', 'load', 'probe', 'done'] as const;
const RANK: ReadonlyMap<string, number> = new Map(MARKER_ORDER.map((m, i) => [m, i]));
const MARKER_PREFIX = `${MOUNTS.markers}/`;

/** A marker the vet refused: from another process, unknown, repeated or out of the harness's order. */
export interface ForgedMarker {
  ts: number;
  tgid: number;
  comm: string;
  marker: string;
  why: string;
}

/** What the kernel's events say about the harness's progress; nothing here comes from a file the candidate can write. */
export interface PhaseDerivation {
  /** The process that opened the `go` marker: the harness (its first marker; no candidate code runs before it). */
  harnessTgid?: number;
  goNs?: number;
  doneNs?: number;
  /** When the harness process exited (kernel exit event), if it did while traced. */
  harnessExitNs?: number;
  /** Accepted phases in order; the first starts at go, each ends where the next accepted marker is. */
  spans: PhaseSpan[];
  forged: ForgedMarker[];
}

/**
 * Phases from the harness's marker syscalls: the harness opens `/ltrack/phase/<name>` (a path that
 * never exists) at each boundary, and the tracer reports the failed open with the kernel's time and
 * the caller's tgid. The phase channel file decides nothing here (the candidate can write it).
 *
 * A marker counts only when it comes from the harness's own process and moves strictly forward in
 * MARKER_ORDER: each phase at most once, never back, never into `startup`. Everything else is a
 * forgery and is returned as such (a blocking finding, LT-SBX-005). Candidate code that runs inside
 * the harness process (a dependency's `__init__` or `.pth`, a pickle being loaded) can still emit
 * well-ordered markers early or suppress the harness's own: that only moves the phase forward, and
 * the rules are written so that no phase from `import` on is more lenient than the one before
 * (test/rules/phase-coverage.test.ts), so such a move never hides anything.
 */
export function derivePhases(events: readonly TraceEvent[]): PhaseDerivation {
  const markers = events
    .map((e, i) => ({ e, i }))
    .filter(({ e }) => e.kind === 'file_open' && e.path !== undefined && e.path.startsWith(MARKER_PREFIX))
    .sort((a, b) => a.e.ts - b.e.ts || a.i - b.i)
    .map(({ e }) => e);
  const out: PhaseDerivation = { spans: [], forged: [] };
  let last = -1;
  for (const m of markers) {
    const name = m.path!.slice(MARKER_PREFIX.length);
    const rank = RANK.get(name);
    if (out.harnessTgid === undefined) {
      // Only the harness runs before go; a marker before it means go itself was not seen (dropped
      // events make the run incomplete), so nothing can be judged yet.
      if (name !== 'go') continue;
      out.harnessTgid = m.tgid;
      out.goNs = m.ts;
      last = 0;
      continue;
    }
    const forged = (why: string) => out.forged.push({ ts: m.ts, tgid: m.tgid, comm: m.comm, marker: name, why });
    if (m.tgid !== out.harnessTgid) forged(`opened by process ${m.tgid} (${m.comm}), not the harness (${out.harnessTgid})`);
    else if (rank === undefined) forged(`not a phase the harness announces`);
    else if (rank === last) forged(`${name} announced twice`);
    else if (rank < last) forged(`${name} announced after ${MARKER_ORDER[last]}`);
    else {
      last = rank;
      const prev = out.spans.at(-1);
      if (prev) prev.endNs = m.ts;
      if (name === 'done') out.doneNs = m.ts;
      // the first phase starts at go: between the two only the harness's own code runs
      else out.spans.push({ phase: name as Phase, startNs: out.spans.length === 0 ? out.goNs! : m.ts, endNs: Number.MAX_SAFE_INTEGER });
    }
  }
  if (out.harnessTgid !== undefined) {
    const exit = events.find((e) => e.kind === 'exit' && e.tgid === out.harnessTgid);
    if (exit) out.harnessExitNs = exit.ts;
  }
  return out;
}

/** Why the derivation cannot vouch for the run's phases; empty when it can. */
export function phaseGaps(d: PhaseDerivation): string[] {
  if (d.goNs === undefined) return ["the harness's go marker was never seen: the run's phases are unknown"];
  const gaps: string[] = [];
  if (d.spans.length === 0) gaps.push('the harness announced no phase after go');
  if (d.doneNs === undefined) gaps.push('the harness never reached its end marker: what it had still to load or run was not observed');
  return gaps;
}

/**
 * Tags each event with the harness phase its timestamp falls in. Events before go are `startup`
 * (the interpreter starting, the harness importing itself, planting decoys); events after the last
 * phase ended belong to the last phase (teardown, and processes that outlived the harness).
 */
export function tagPhases(events: TraceEvent[], spans: PhaseSpan[]): void {
  const sorted = [...spans].sort((a, b) => a.startNs - b.startNs);
  for (const event of events) event.phase = phaseAt(event.ts, sorted);
}

/** The phase a CLOCK_MONOTONIC time falls in (spans sorted by start). */
export function phaseAt(ts: number, sorted: PhaseSpan[]): Phase {
  let current: Phase = 'startup';
  for (const span of sorted) {
    if (ts < span.startNs) break;
    current = span.phase;
  }
  return current;
}

/** A process of the traced tree still alive when the harness finished. */
export interface Lingerer {
  tgid: number;
  /** Who started it and when (kernel fork event). */
  parent: number;
  forkNs: number;
  /** What it was last seen as (comm), and the programs it and its descendants executed. */
  comm: string;
  exec: string[];
}

/**
 * Processes started after go that had not exited when the harness finished: at its `done` marker,
 * or, when the harness never got there, at its own exit. Read from the tracer's fork and exit
 * events only (a setsid or double fork does not leave the traced tree: children inherit it).
 */
export function lingerers(events: readonly TraceEvent[], d: PhaseDerivation): Lingerer[] {
  const end = d.doneNs ?? d.harnessExitNs;
  if (d.goNs === undefined || end === undefined) return [];
  const sorted = [...events].sort((a, b) => a.ts - b.ts);
  const alive = new Map<number, Lingerer>();
  for (const e of sorted) {
    if (e.ts > end) break;
    if (e.kind === 'fork' && e.childTgid !== undefined && e.ts >= d.goNs) alive.set(e.childTgid, { tgid: e.childTgid, parent: e.tgid, forkNs: e.ts, comm: e.comm, exec: [] });
    else if (e.kind === 'exit') alive.delete(e.tgid);
  }
  // what each did, its descendants included (the daemon's own children do its work)
  const parent = new Map<number, number>();
  for (const e of sorted) if (e.kind === 'fork' && e.childTgid !== undefined) parent.set(e.childTgid, e.tgid);
  const owner = (tgid: number): Lingerer | undefined => {
    for (let t: number | undefined = tgid, hops = 0; t !== undefined && hops < 32; t = parent.get(t), hops++) {
      const l = alive.get(t);
      if (l) return l;
    }
    return undefined;
  };
  for (const e of sorted) {
    const l = owner(e.tgid);
    if (!l) continue;
    if (e.kind === 'exec' && e.path !== undefined && l.exec.length < 8) l.exec.push(e.path);
    if (e.tgid === l.tgid && e.ts >= l.forkNs) l.comm = e.comm;
  }
  return [...alive.values()];
}
