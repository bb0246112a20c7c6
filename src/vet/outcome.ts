import type { Detection } from '../core/finding.js';
import type { SandboxResult } from '../sandbox/index.js';
import { phaseAt } from './phases.js';

/**
 * Detections about the sandboxed run as a whole (rules/sandbox.toml): a phase that timed out, an
 * OOM kill, a loader that failed, the pids limit hit, forged phase markers, processes that outlived
 * the harness. Single kernel events cannot say these; the run's result can. Only what the host and
 * the kernel observed decides them (the time limit, the cgroup counters, the tracer's marker, fork
 * and exit events); the harness's own account only says which phase failed and how.
 */
export function outcomeDetections(result: SandboxResult): Detection[] {
  const out: Detection[] = [];
  const base = { source: 'dynamic' as const, evidence: { driver: result.driver, exitCode: result.exitCode } };
  const last = result.phases.at(-1);
  const spans = result.phases;
  if (result.timedOut) {
    out.push({ ...base, ruleId: 'LT-SBX-001', phase: last?.phase ?? 'startup', message: `the sandbox was killed at its time limit${last ? ` during the ${last.phase} phase` : ''}` });
  }
  if (result.oomKilled) {
    out.push({ ...base, ruleId: 'LT-SBX-002', phase: last?.phase ?? 'startup', message: 'the sandbox was OOM-killed at its memory limit' });
  }
  if ((result.pidsLimitHits ?? 0) > 0) {
    out.push({
      ...base,
      ruleId: 'LT-SBX-004',
      phase: last?.phase ?? 'startup',
      message: `the sandbox's pids limit refused ${result.pidsLimitHits} fork${result.pidsLimitHits === 1 ? '' : 's'} or thread${result.pidsLimitHits === 1 ? '' : 's'} (cgroup pids.events)`,
      evidence: { ...base.evidence, pidsLimitHits: result.pidsLimitHits },
    });
  }
  for (const p of result.phases) {
    if (p.ok) continue;
    const error = p.error ?? 'unknown error';
    out.push({ ...base, ruleId: 'LT-SBX-003', phase: p.phase, message: `the ${p.phase} phase failed: ${error.slice(0, 300)}`, evidence: { ...base.evidence, ...(p.detail ?? {}), error } });
  }
  for (const f of result.forgedMarkers ?? []) {
    out.push({
      ...base,
      ruleId: 'LT-SBX-005',
      phase: phaseAt(f.ts, spans),
      message: `phase marker "${f.marker}" forged: ${f.why}`,
      evidence: { ...base.evidence, marker: f.marker, tgid: f.tgid, comm: f.comm, why: f.why },
    });
  }
  for (const l of result.lingering ?? []) {
    out.push({
      ...base,
      ruleId: 'LT-SBX-006',
      phase: phaseAt(l.forkNs, spans),
      message: `process ${l.tgid} (${l.comm}${l.exec.length ? `, ran ${l.exec.join(', ')}` : ''}) was still alive when the harness finished`,
      evidence: { ...base.evidence, tgid: l.tgid, parent: l.parent, comm: l.comm, exec: l.exec },
    });
  }
  return out;
}
