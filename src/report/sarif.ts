import { pathToFileURL } from 'node:url';
import type * as Sarif from 'sarif';
import type { Finding } from '../core/finding.js';
import { sha256 } from '../core/sha256.js';
import type { Report } from '../core/report.js';
import { maskSecrets } from './escape.js';

/** GitHub code scanning accepts at most 25,000 results per run; beyond it we keep the worst. */
const SARIF_MAX_RESULTS = 25_000;

const LEVEL: Record<Finding['severity'], Sarif.Result.level> = { critical: 'error', high: 'error', medium: 'warning', low: 'note', info: 'note' };

/**
 * SARIF 2.1.0 for GitHub code scanning: one rule per rule id with security-severity (the CVSS score)
 * and help; results located in the model file with a byte region for pickle opcodes (startLine 1
 * otherwise); partialFingerprints from rule, file digest, entry and offset — stable across runs.
 */
export function toSarif(report: Report): Sarif.Log {
  const findings = report.findings.slice(0, SARIF_MAX_RESULTS);
  const digest = new Map(report.targets.map((t) => [t.path, t.sha256]));
  const rules = new Map<string, Sarif.ReportingDescriptor>();
  for (const f of findings) {
    const prev = rules.get(f.ruleId);
    const sev = Math.max(f.cvss.score, Number(prev?.properties?.['security-severity'] ?? 0));
    rules.set(f.ruleId, {
      id: f.ruleId,
      name: f.ruleId.replace(/-/g, ''),
      shortDescription: { text: f.title },
      fullDescription: { text: f.title },
      help: {
        text: `${f.title}. CVSS v4.0 ${f.cvss.vector}. MITRE ATT&CK ${f.mitre.join(', ')}. Agent action: ${f.action}.`,
        markdown: `**${f.title}**\n\nCVSS v4.0 \`${f.cvss.vector}\` · ATT&CK ${f.mitre.map((m) => `[${m}](https://attack.mitre.org/techniques/${m.replace('.', '/')}/)`).join(', ')} · agent action \`${f.action}\``,
      },
      defaultConfiguration: { level: LEVEL[f.severity] },
      properties: { 'security-severity': sev.toFixed(1), tags: ['security', ...f.mitre], precision: f.source === 'dynamic' ? 'very-high' : 'high' },
    });
  }
  const ruleIndex = [...rules.keys()];
  const results: Sarif.Result[] = findings.map((f) => {
    const file = f.location?.file ?? report.targets[0]?.path ?? 'unknown';
    const region: Sarif.Region = f.location?.byteOffset !== undefined && !f.location.entry?.length ? { byteOffset: f.location.byteOffset, byteLength: f.location.byteLength ?? 1 } : { startLine: 1 };
    const where = f.location?.entry?.length ? ` [in ${f.location.entry.join(' › ')}${f.location.byteOffset !== undefined ? ` at offset ${f.location.byteOffset}` : ''}]` : '';
    return {
      ruleId: f.ruleId,
      ruleIndex: ruleIndex.indexOf(f.ruleId),
      level: LEVEL[f.severity],
      message: { text: maskSecrets(`${f.message}${where} (${f.source}, ${f.phase})`) },
      locations: [{ physicalLocation: { artifactLocation: { uri: artifactUri(file) }, region } }],
      partialFingerprints: { 'ltrack/v1': fingerprint(f, digest.get(file) ?? '') },
      properties: { severity: f.severity, cvss: f.cvss.score, source: f.source, phase: f.phase },
    };
  });
  return {
    version: '2.1.0',
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    runs: [
      {
        tool: { driver: { name: 'ltrack', version: report.tool.version, informationUri: 'https://github.com/ltrack/ltrack', rules: [...rules.values()] } },
        results,
        invocations: [
          {
            executionSuccessful: report.verdict.status !== 'incomplete',
            ...(report.findings.length > SARIF_MAX_RESULTS
              ? { toolExecutionNotifications: [{ message: { text: `${report.findings.length - SARIF_MAX_RESULTS} lower-ranked results omitted (GitHub limit)` } }] }
              : {}),
          },
        ],
        properties: { verdict: report.verdict.status, rulesetDigest: report.rulesetDigest },
      },
    ],
  };
}

/** Relative paths stay relative (they resolve against the repository checkout); absolute ones become file URIs. */
function artifactUri(path: string): string {
  return path.startsWith('/') ? pathToFileURL(path).href : path.split('\\').join('/');
}

/** An evidence value as fingerprint text: strings as they are, anything else as JSON (never '[object Object]'). */
function evidenceText(v: unknown): string {
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function fingerprint(f: Finding, fileDigest: string): string {
  const evidence = f.source === 'dynamic' ? evidenceText(f.evidence.path ?? f.evidence.addr ?? f.evidence.cmdline) : evidenceText(f.evidence.callable);
  return sha256([f.ruleId, fileDigest, (f.location?.entry ?? []).join('/'), String(f.location?.byteOffset ?? ''), evidence].join('\0')).slice(0, 32);
}
