import type { Report } from '../core/report.js';

/** A table cell: the model's words (paths, global names) can hold markdown and HTML; neither is rendered. */
function cell(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\|/g, '\\|')
    .replace(/[\r\n]+/g, ' ')
    .replace(/[`*_[\]]/g, (c) => `\\${c}`);
}

const ICON = { pass: '✅', block: '⛔', incomplete: '⚠️' } as const;

/**
 * The job summary: verdict, findings (rule, severity, CVSS, file, evidence), what the candidate was
 * seen doing, and where the full report is.
 */
export function summaryMarkdown(report: Report, where: { reportArtifact?: string; runUrl?: string }): string {
  const v = report.verdict;
  const lines = [
    `## ltrack vet: ${ICON[v.status]} ${v.status.toUpperCase()}`,
    '',
    `${report.targets.length} file(s), ${report.findings.length} finding(s), highest ${v.severity} (${v.score.toFixed(1)}), fail-on ${v.failOn}; sandbox ${report.stats.sandbox}, ${report.stats.events} kernel events, ${report.stats.drops} dropped.`,
    '',
  ];
  if (v.reasons.length > 0 && v.status !== 'pass') lines.push(...v.reasons.map((r) => `- ${cell(r)}`), '');
  if (report.findings.length > 0) {
    lines.push('| Rule | Severity | CVSS | File | Evidence |', '|---|---|---|---|---|');
    for (const f of report.findings) {
      lines.push(`| ${cell(f.ruleId)} ${cell(f.title)} | ${f.severity} | ${f.cvss.score.toFixed(1)} | ${cell(f.location?.file ?? '')} | ${cell(f.message)} |`);
    }
    lines.push('');
  }
  const o = report.observed;
  lines.push(
    '| Observed | Count |',
    '|---|---|',
    `| files read | ${o.filesRead.length} |`,
    `| files written | ${o.filesWritten.length} |`,
    `| libraries mapped executable | ${o.librariesMapped.length} |`,
    `| programs executed | ${o.exec.length} |`,
    `| network peers | ${o.network.length} |`,
    '',
  );
  if (where.reportArtifact) lines.push(`The HTML report is \`${cell(where.reportArtifact)}\`${where.runUrl ? ` in [this run's artifacts](${where.runUrl})` : ''}.`, '');
  return lines.join('\n');
}
