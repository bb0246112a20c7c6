import { readFile } from 'node:fs/promises';
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
