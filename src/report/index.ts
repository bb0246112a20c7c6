/** Report writers: JSON (with its schema), SARIF, HTML, CEF, the terminal summary. Only this folder serialises. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { TraceEvent } from '../core/event.js';
import { LtrackError } from '../core/errors.js';
import { REPORT_JSON_SCHEMA, type Report } from './schema.js';
import { toSarif } from './sarif.js';
import { toHtml } from './html.js';
import { toCef } from './cef.js';
import { maskSecrets } from './escape.js';

export { toSarif, SARIF_MAX_RESULTS } from './sarif.js';
export { toHtml } from './html.js';
export { toCef } from './cef.js';
export { terminalSummary } from './text.js';
export { REPORT_JSON_SCHEMA, REPORT_VERSION } from './schema.js';
export type { Report, Verdict, TargetFile, ObservedBehavior } from './schema.js';

// Compiled on the first report validated, not at module load: commands that write no report skip it.
let compiled: { ajv: Ajv2020; validate: ValidateFunction } | undefined;
function reportValidator(): { ajv: Ajv2020; validate: ValidateFunction } {
  if (!compiled) {
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    (addFormats as unknown as (a: Ajv2020) => void)(ajv);
    compiled = { ajv, validate: ajv.compile(REPORT_JSON_SCHEMA) };
  }
  return compiled;
}

/** Throws when a report does not match its schema: a report we cannot stand behind is not written. */
export function validateReport(obj: unknown): void {
  const { ajv, validate } = reportValidator();
  if (!validate(obj)) throw new LtrackError('internal', `report does not match its schema: ${ajv.errorsText(validate.errors)}`);
}

/** The JSON report, decoy secrets masked. */
export function toJson(report: Report): string {
  validateReport(report);
  return maskSecrets(JSON.stringify(report, null, 2));
}

/** Writes report.json, report.sarif, report.html, report.cef and events.jsonl into `outDir`. */
export async function writeOutputs(report: Report, outDir: string, events: TraceEvent[] = []): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const files: [string, string][] = [
    ['report.json', toJson(report)],
    ['report.sarif', maskSecrets(JSON.stringify(toSarif(report), null, 2))],
    ['report.html', toHtml(report, events)],
    ['report.cef', `${toCef(report).join('\n')}\n`],
    ['events.jsonl', events.map((e) => maskSecrets(JSON.stringify(e))).join('\n') + (events.length ? '\n' : '')],
  ];
  for (const [name, text] of files) await writeFile(join(outDir, name), text);
  return files.map(([name]) => join(outDir, name));
}
