import type { Report } from '../core/report.js';
import { cefHeader, cefValue } from './escape.js';

const CEF_SEVERITY = { info: 1, low: 3, medium: 5, high: 8, critical: 10 } as const;

/** One ArcSight CEF:0 line per finding, plus one for the verdict (for SIEMs: --format cef). */
export function toCef(report: Report): string[] {
  const head = (sig: string, name: string, sev: number) => `CEF:0|ltrack|ltrack|${cefHeader(report.tool.version)}|${cefHeader(sig)}|${cefHeader(name)}|${sev}|`;
  const files = report.targets.map((t) => t.path).join(',');
  const lines = report.findings.map((f) => {
    const ext = [
      `rt=${Date.parse(report.startedAt)}`,
      `fname=${cefValue(f.location?.file ?? files)}`,
      `msg=${cefValue(f.message)}`,
      `act=${f.action}`,
      `cs1Label=cvss cs1=${cefValue(f.cvss.vector)}`,
      `cfp1Label=score cfp1=${f.cvss.score}`,
      `cs2Label=mitre cs2=${cefValue(f.mitre.join(','))}`,
      `cs3Label=phase cs3=${f.phase}`,
      `cs4Label=source cs4=${f.source}`,
    ];
    return head(f.ruleId, f.title, CEF_SEVERITY[f.severity]) + ext.join(' ');
  });
  lines.push(
    head('LT-VERDICT', `vet ${report.verdict.status}`, CEF_SEVERITY[report.verdict.severity]) +
      `rt=${Date.parse(report.startedAt)} fname=${cefValue(files)} outcome=${report.verdict.status} msg=${cefValue(report.verdict.reasons.join('; '))}`,
  );
  return lines;
}
