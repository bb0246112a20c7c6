import type { TraceEvent } from '../core/event.js';
import { PHASES } from '../core/phase.js';
import type { Report } from '../core/report.js';
import { forHtml as h } from './escape.js';

/**
 * One self-contained HTML file (no scripts, no external resources): verdict, findings with
 * evidence, the process tree and a per-phase timeline of events. Every model-derived string is
 * escaped and decoy secrets are masked.
 */
export function toHtml(report: Report, events: TraceEvent[] = []): string {
  const v = report.verdict;
  const colour = v.status === 'pass' ? '#1a7f37' : v.status === 'block' ? '#cf222e' : '#9a6700';
  const findings = report.findings
    .map(
      (f) => `<tr class="sev-${f.severity}"><td>${f.severity}</td><td>${f.cvss.score.toFixed(1)}</td><td><code>${h(f.ruleId)}</code></td><td>${h(f.title)}<div class="msg">${h(f.message)}</div>
<details><summary>evidence</summary><pre>${h(JSON.stringify({ location: f.location, evidence: f.evidence, cvss: f.cvss, mitre: f.mitre, action: f.action }, null, 2))}</pre></details></td><td>${f.source}/${f.phase}</td></tr>`,
    )
    .join('\n');
  const timeline = PHASES.filter((p) => p !== 'static')
    .map((p) => {
      const inPhase = events.filter((e) => e.phase === p);
      if (inPhase.length === 0) return '';
      const counts = new Map<string, number>();
      for (const e of inPhase) counts.set(e.kind, (counts.get(e.kind) ?? 0) + e.count);
      const notable = inPhase.filter((e) => e.kind !== 'file_open' && e.kind !== 'mmap_exec' && e.kind !== 'exit').slice(0, 50);
      return `<h3>${p}</h3><p>${[...counts].map(([k, n]) => `${k} ${n}`).join(' · ')}</p><ul>${notable.map((e) => `<li><code>${h(e.kind)}</code> ${h(e.comm)}[${e.tgid}] ${h(describe(e))}</li>`).join('')}</ul>`;
    })
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ltrack report: ${v.status}</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:70em}h1 span{color:#fff;background:${colour};padding:.1em .5em;border-radius:.3em}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.4em;vertical-align:top;text-align:left}.msg{color:#555;font-size:90%}
.sev-critical td:first-child,.sev-high td:first-child{color:#cf222e;font-weight:bold}.sev-medium td:first-child{color:#9a6700}pre{white-space:pre-wrap;font-size:85%}</style></head>
<body><h1>Verdict: <span id="verdict">${v.status.toUpperCase()}</span></h1>
<p>Highest severity <b>${v.severity}</b>, score ${v.score.toFixed(1)}, fail-on ${v.failOn}. ${v.reasons.map(h).join('; ')}</p>
<h2>Files</h2><ul>${report.targets.map((t) => `<li><code>${h(t.path)}</code> — ${h(t.format)}, ${t.size} bytes, sha256 <code>${t.sha256}</code></li>`).join('')}</ul>
<h2>Findings (${report.findings.length})</h2>
<table id="findings"><tr><th>severity</th><th>score</th><th>rule</th><th>finding</th><th>where</th></tr>${findings}</table>
<h2>Process tree</h2>${processTree(events)}
<h2>Timeline by phase</h2>${timeline || '<p>No dynamic run.</p>'}
${sinkhole(report)}
<h2>Run</h2><p>${report.stats.events} events, ${report.stats.drops} dropped, sandbox ${report.stats.sandbox}, tiers ${h(report.stats.tracerTiers.join(', '))}. ltrack ${h(report.tool.version)}, rule set ${report.rulesetDigest.slice(0, 16)}.</p>
</body></html>
`;
}

function describe(e: TraceEvent): string {
  if (e.kind === 'exec') return (e.argv ?? [e.path ?? '']).join(' ');
  if (e.addr !== undefined) return `${e.family ?? ''} ${e.addr}:${e.port ?? ''}${e.ret !== undefined && e.ret < 0 ? ` (errno ${-e.ret})` : ''}`;
  return e.path ?? e.op ?? '';
}

function processTree(events: TraceEvent[]): string {
  const execs = new Map<number, string>();
  const parent = new Map<number, number>();
  for (const e of events) {
    if (e.kind === 'exec') execs.set(e.tgid, (e.argv ?? [e.path ?? '']).join(' '));
    if (!parent.has(e.tgid) && e.ppid) parent.set(e.tgid, e.ppid);
    if (e.kind === 'fork' && e.childTgid) parent.set(e.childTgid, e.tgid);
  }
  const pids = [...new Set(events.map((e) => e.tgid))];
  if (pids.length === 0) return '<p>No dynamic run.</p>';
  const children = new Map<number, number[]>();
  for (const p of pids) {
    const pp = parent.get(p);
    if (pp !== undefined && pids.includes(pp)) children.set(pp, [...(children.get(pp) ?? []), p]);
  }
  const roots = pids.filter((p) => !pids.includes(parent.get(p) ?? -1));
  const render = (p: number, depth: number): string =>
    depth > 32
      ? ''
      : `<li>${p} <code>${h(execs.get(p) ?? events.find((e) => e.tgid === p)?.comm ?? '')}</code>${
          (children.get(p) ?? []).length
            ? `<ul>${children
                .get(p)!
                .map((c) => render(c, depth + 1))
                .join('')}</ul>`
            : ''
        }</li>`;
  return `<ul id="tree">${roots.map((r) => render(r, 0)).join('')}</ul>`;
}

/** What --network sinkhole caught: each connection's original destination and first bytes. */
function sinkhole(report: Report): string {
  const caught = report.observed.sinkhole;
  if (!caught) return '';
  if (caught.length === 0) return '<h2>Network sinkhole</h2><p>Nothing reached the sink.</p>';
  const rows = caught
    .map(
      (c) =>
        `<tr><td>${h(c.phase ?? '')}</td><td>${c.proto === 'dns' ? `DNS ${h(c.name ?? '?')}` : `TCP ${h(c.dst ?? '?')}:${c.port ?? '?'}`}</td><td>${c.size}</td><td><code>${h(c.preview)}</code></td></tr>`,
    )
    .join('');
  return `<h2>Network sinkhole (${caught.length})</h2><table><tr><th>phase</th><th>destination</th><th>bytes</th><th>first bytes</th></tr>${rows}</table>`;
}
