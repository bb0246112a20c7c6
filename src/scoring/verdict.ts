import type { Finding } from '../core/finding.js';
import { maxSeverity, severityRank, type Severity } from '../core/severity.js';
import type { Verdict } from '../core/report.js';

/**
 * pass, block or incomplete. A finding at or above --fail-on blocks; a run that could not see
 * everything (drops, no tracer, sandbox failure) is incomplete even with no finding — and a block
 * outranks incomplete, because what was seen is already enough to refuse the candidate.
 */
export function verdict(findings: Finding[], opts: { failOn: Severity; incompleteReasons: string[] }): Verdict {
  const severity = maxSeverity(findings.map((f) => f.severity)) ?? 'info';
  const score = findings.reduce((m, f) => Math.max(m, f.cvss.score), 0);
  const blocking = findings.filter((f) => severityRank(f.severity) >= severityRank(opts.failOn));
  const reasons = [...blocking.slice(0, 5).map((f) => `${f.ruleId} ${f.title} (${f.severity}, ${f.cvss.score})`), ...opts.incompleteReasons];
  const status = blocking.length > 0 ? 'block' : opts.incompleteReasons.length > 0 ? 'incomplete' : 'pass';
  return { status, severity, score, failOn: opts.failOn, reasons };
}
