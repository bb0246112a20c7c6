import type { Detection } from '../core/finding.js';
import type { SandboxResult } from '../sandbox/index.js';

/**
 * Detections about the sandboxed run as a whole (rules/sandbox.toml): a phase that timed out, an
 * OOM kill, a loader that failed. Single kernel events cannot say these; the sandbox result can.
 */
export function outcomeDetections(result: SandboxResult): Detection[] {
  const out: Detection[] = [];
  const base = { source: 'dynamic' as const, evidence: { driver: result.driver, exitCode: result.exitCode } };
  const last = result.phases.at(-1);
  if (result.timedOut) {
    out.push({ ...base, ruleId: 'LT-SBX-001', phase: last?.phase ?? 'startup', message: `the sandbox was killed at its time limit${last ? ` during the ${last.phase} phase` : ''}` });
  }
  if (result.oomKilled) {
    out.push({ ...base, ruleId: 'LT-SBX-002', phase: last?.phase ?? 'startup', message: 'the sandbox was OOM-killed at its memory limit' });
  }
  for (const p of result.phases) {
    if (p.ok) continue;
    const error = p.error ?? 'unknown error';
    const ruleId = /fork|BlockingIOError|Resource temporarily unavailable|can't start new thread/i.test(error) ? 'LT-SBX-004' : 'LT-SBX-003';
    out.push({ ...base, ruleId, phase: p.phase, message: `the ${p.phase} phase failed: ${error.slice(0, 300)}`, evidence: { ...base.evidence, ...(p.detail ?? {}), error } });
  }
  return out;
}
