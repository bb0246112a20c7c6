import { open } from 'node:fs/promises';
import { PHASES, type Phase } from '../core/phase.js';

interface ChannelRecord {
  kind?: string;
  phase?: string;
  edge?: 'start' | 'end';
  ok?: boolean;
  error?: string | null;
  detail?: Record<string, unknown>;
}

/** The harness's own account of a phase: did it succeed, and what it found (packages, per-model results). */
export interface PhaseReport {
  phase: Phase;
  ok: boolean;
  error?: string;
  detail?: Record<string, unknown>;
}

/** More than the harness ever writes (its details are lists of packages, modules and models). */
export const CHANNEL_MAX_BYTES = 8 << 20;

/**
 * Reads the harness's phase channel: for each phase, whether it succeeded and its detail.
 *
 * UNTRUSTED. The file lives in a folder the sandbox can write, and the candidate runs as the same
 * user as the harness (and inside its process during import and load): every line here may be
 * forged. So this reader never decides when a phase was (phase times come from the kernel's view of
 * the harness's marker syscalls, src/vet/phases.ts), ignores any timestamp a line carries, reads a
 * bounded prefix of the file, and keeps the first end record of each phase (later ones are ignored,
 * so a process that outlives a phase cannot rewrite its outcome). What it returns is information
 * for the report (ok/error, packages, per-model results), never evidence that clears a finding.
 * A phase that started but never ended (timeout, OOM, a payload that killed the interpreter) is
 * reported failed: 'did not finish'.
 */
export async function readChannel(path: string): Promise<{ reports: PhaseReport[]; truncated: boolean }> {
  const fh = await open(path, 'r').catch(() => undefined);
  let text = '';
  let truncated = false;
  if (fh) {
    try {
      const buf = Buffer.alloc(CHANNEL_MAX_BYTES + 1);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      truncated = bytesRead > CHANNEL_MAX_BYTES;
      text = buf.subarray(0, Math.min(bytesRead, CHANNEL_MAX_BYTES)).toString('utf8');
    } finally {
      await fh.close();
    }
  }
  const reports = new Map<Phase, PhaseReport>();
  const ended = new Set<Phase>();
  for (const line of text.split('\n')) {
    let r: ChannelRecord | null;
    try {
      r = JSON.parse(line) as ChannelRecord | null;
    } catch {
      continue;
    }
    if (r === null || typeof r !== 'object' || r.kind !== 'phase' || !isPhase(r.phase) || ended.has(r.phase)) continue;
    if (r.edge === 'start' && !reports.has(r.phase)) {
      reports.set(r.phase, { phase: r.phase, ok: false, error: 'did not finish' });
    } else if (r.edge === 'end') {
      ended.add(r.phase);
      const rep: PhaseReport = { phase: r.phase, ok: r.ok === true };
      if (r.ok !== true) rep.error = typeof r.error === 'string' ? r.error : 'failed';
      if (r.detail && typeof r.detail === 'object' && !Array.isArray(r.detail)) rep.detail = r.detail;
      reports.set(r.phase, rep);
    }
  }
  return { reports: [...reports.values()], truncated };
}

/** The phases the harness runs; `static` and `startup` are never announced. */
const HARNESS_PHASES: readonly Phase[] = PHASES.filter((p) => p !== 'static' && p !== 'startup');

function isPhase(p: unknown): p is Phase {
  return typeof p === 'string' && (HARNESS_PHASES as readonly string[]).includes(p);
}

export interface PhaseEdge {
  phase: Phase;
  edge: 'start' | 'end';
  ok?: boolean;
}

/**
 * Follows the channel while the run goes on, for progress: each well-formed phase edge is handed
 * to `onEdge` as it appears. Display only, and as untrusted as readChannel: a forged line can
 * only make the progress lines wrong.
 */
export function followChannel(path: string, onEdge: (e: PhaseEdge) => void, everyMs = 250): { stop(): Promise<void> } {
  let offset = 0;
  let partial = '';
  let reading: Promise<void> = Promise.resolve();
  const readNew = async () => {
    const fh = await open(path, 'r').catch(() => undefined);
    if (!fh) return;
    try {
      const buf = Buffer.alloc(64 << 10);
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
        if (bytesRead === 0) break;
        offset += bytesRead;
        const lines = (partial + buf.subarray(0, bytesRead).toString('utf8')).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          let r: ChannelRecord;
          try {
            r = JSON.parse(line) as ChannelRecord;
          } catch {
            continue;
          }
          if (r.kind === 'phase' && isPhase(r.phase) && (r.edge === 'start' || r.edge === 'end')) onEdge({ phase: r.phase, edge: r.edge, ...(r.edge === 'end' ? { ok: r.ok === true } : {}) });
        }
      }
    } finally {
      await fh.close();
    }
  };
  const timer = setInterval(() => {
    reading = reading.then(readNew).catch(() => undefined);
  }, everyMs);
  timer.unref(); // progress never keeps the process alive
  return {
    /** Reads what was written since the last poll: a phase shorter than a poll is still told. */
    async stop() {
      clearInterval(timer);
      reading = reading.then(readNew).catch(() => undefined);
      await reading;
    },
  };
}
