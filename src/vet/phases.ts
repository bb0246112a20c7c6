import type { TraceEvent } from '../core/event.js';
import type { Phase } from '../core/phase.js';

/** A harness phase as the sandbox reports it: [startNs, endNs) on the CLOCK_MONOTONIC the kernel stamps events with. */
export interface PhaseSpan {
  phase: Phase;
  startNs: number;
  endNs: number;
}

/**
 * Tags each event with the harness phase its timestamp falls in. Events before the first phase
 * are `startup` (the interpreter starting, the harness importing itself); events after the last
 * phase ended belong to the last phase (teardown of what it started, e.g. atexit handlers).
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
