import { open, readFile } from 'node:fs/promises';
import { PHASES, type Phase } from '../core/phase.js';
import type { PhaseRecord } from './plan.js';

interface Record_ {
  kind?: string;
  ns?: number;
  phase?: string;
  edge?: 'start' | 'end';
  ok?: boolean;
  error?: string | null;
  detail?: Record<string, unknown>;
}

/**
 * Reads the harness's phase channel into phase records. A phase that started but never ended
 * (timeout, OOM, a payload that killed the interpreter) is kept, open-ended and failed. Lines that
 * are not ours (a payload could write to the file: it is in a folder the harness can write) are
 * skipped rather than trusted; only well-formed phase edges of known phases count.
 */
export async function readChannel(path: string, endNs: number): Promise<{ phases: PhaseRecord[]; wentGo: boolean }> {
  const text = await readFile(path, 'utf8').catch(() => '');
  const phases: PhaseRecord[] = [];
  const open = new Map<Phase, PhaseRecord>();
  let wentGo = false;
  for (const line of text.split('\n')) {
    let r: Record_;
    try {
      r = JSON.parse(line) as Record_;
    } catch {
      continue;
    }
    if (r.kind === 'go') wentGo = true;
    if (r.kind !== 'phase' || typeof r.ns !== 'number' || !isPhase(r.phase)) continue;
    if (r.edge === 'start') {
      const rec: PhaseRecord = { phase: r.phase, startNs: r.ns, endNs, ok: false, error: 'did not finish' };
      open.set(r.phase, rec);
      phases.push(rec);
    } else if (r.edge === 'end') {
      const rec = open.get(r.phase);
      if (!rec) continue;
      open.delete(r.phase);
      rec.endNs = r.ns;
      rec.ok = r.ok === true;
      if (r.ok === true) delete rec.error;
      else rec.error = r.error ?? 'failed';
      if (r.detail && typeof r.detail === 'object') rec.detail = r.detail;
    }
  }
  return { phases, wentGo };
}

function isPhase(p: unknown): p is Phase {
  return typeof p === 'string' && (PHASES as readonly string[]).includes(p);
}

export interface PhaseEdge {
  phase: Phase;
  edge: 'start' | 'end';
  ok?: boolean;
}

/**
 * Follows the channel while the run goes on, for progress: each well-formed phase edge is handed
 * to `onEdge` as it appears. Display only — the result is still read whole by readChannel.
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
          let r: Record_;
          try {
            r = JSON.parse(line) as Record_;
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
    async stop() {
      clearInterval(timer);
      await reading;
    },
  };
}
