import pc from 'picocolors';
import type { Report } from '../core/report.js';
import { forTerminal } from './escape.js';

/**
 * The terminal summary: verdict, targets, the top findings; colour only when asked (a TTY). Every
 * string taken from the report goes through forTerminal: file names, global names and evidence are
 * the candidate's words and must not forge lines or reorder text.
 */
export function terminalSummary(report: Report, opts: { color: boolean; max?: number }): string {
  const c = pc.createColors(opts.color);
  const v = report.verdict;
  const head = v.status === 'pass' ? c.green('PASS') : v.status === 'block' ? c.red(c.bold('BLOCK')) : c.yellow(c.bold('INCOMPLETE'));
  const lines = [`${head}  ${report.targets.length} file(s), ${report.findings.length} finding(s), highest ${v.severity} (${v.score.toFixed(1)}), fail-on ${v.failOn}`];
  for (const t of report.targets) lines.push(`  ${c.dim(forTerminal(t.format).padEnd(13))} ${forTerminal(t.path)}  ${c.dim(t.sha256.slice(0, 16))}`);
  const sevColor = { critical: c.red, high: c.red, medium: c.yellow, low: c.cyan, info: c.dim } as const;
  for (const f of report.findings.slice(0, opts.max ?? 15)) {
    lines.push(
      `  ${sevColor[f.severity](f.severity.padEnd(8))} ${f.cvss.score.toFixed(1).padStart(4)} ${forTerminal(f.ruleId)} ${forTerminal(f.title)} ${c.dim(forTerminal(`[${f.source}/${f.phase}]`))}`,
    );
    lines.push(`           ${c.dim(forTerminal(f.message).slice(0, 200))}`);
  }
  if (report.findings.length > (opts.max ?? 15)) lines.push(c.dim(`  … ${report.findings.length - (opts.max ?? 15)} more in the report`));
  for (const r of v.reasons.filter((r) => !report.findings.some((f) => r.startsWith(f.ruleId)))) lines.push(`  ${c.yellow('!')} ${forTerminal(r)}`);
  for (const k of report.observed.sinkhole ?? []) {
    const to = k.proto === 'dns' ? `DNS ${k.name ?? '?'}` : `TCP ${k.dst ?? '?'}:${k.port ?? '?'}`;
    lines.push(`  ${c.magenta('sinkhole')} ${forTerminal(to)} ${c.dim(`${forTerminal(`[${k.phase ?? '?'}]`)} ${k.size} bytes: ${forTerminal(k.preview).slice(0, 120)}`)}`);
  }
  lines.push(
    c.dim(`  events ${report.stats.events}, drops ${report.stats.drops}, sandbox ${report.stats.sandbox}${report.stats.tracerTiers.length ? `, tiers ${report.stats.tracerTiers.join(' ')}` : ''}`),
  );
  const l = report.stats.loaders;
  if (l) {
    const deps = l.fromDeps.map((p) => `${p.name} ${p.version} (--deps)`);
    lines.push(c.dim(forTerminal(`  loaders ${l.image}: python ${l.python ?? '?'}, torch ${l.torch ?? '?'}, numpy ${l.numpy ?? '?'}${deps.length ? `; ${deps.join(', ')}` : ''}`)));
  }
  return `${lines.join('\n')}\n`;
}
