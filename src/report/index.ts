/** Report writers: JSON (with its schema), SARIF, HTML, CEF, the terminal summary. Only this folder serialises. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ErrorObject, ValidateFunction } from 'ajv';
import type { TraceEvent } from '../core/event.js';
import { LtrackError } from '../core/errors.js';
import type { Report } from '../core/report.js';
import { validate } from './report.validate.js';
import { toSarif } from './sarif.js';
import { toHtml } from './html.js';
import { toCef } from './cef.js';
import { terminalSummary } from './text.js';
import { jsonForTerminal, maskSecrets } from './escape.js';

/** Throws when a report does not match its schema: a report we cannot stand behind is not written. */
export function validateReport(obj: unknown): void {
  // compiled ahead of time (src/report/report.validate.ts): a vet does not load ajv's compiler
  const validateFile = validate as ValidateFunction;
  if (!validateFile(obj)) {
    const errors = (validateFile.errors ?? []).map((e: ErrorObject) => `data${e.instancePath} ${e.message ?? 'is invalid'}`).join(', ');
    throw new LtrackError('internal', `report does not match its schema: ${errors}`);
  }
}

/** The report formats: `--format` prints one of them, `--out` writes each but text. */
export const REPORT_FORMATS = ['text', 'json', 'sarif', 'html', 'cef'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

interface RenderOptions {
  /** The run's events, for the HTML process tree and timeline. */
  events?: TraceEvent[];
  /** ANSI colour in the text summary (a TTY without NO_COLOR). */
  color?: boolean;
}

/**
 * The one way a report becomes text. Every format masks decoy secrets; JSON and SARIF carry C1 and
 * bidi controls as \u escapes (the same JSON to a parser, nothing to a terminal they are printed
 * on); the text summary and CEF escape every model-derived string themselves. Ends with a newline.
 */
export function render(report: Report, format: ReportFormat, opts: RenderOptions = {}): string {
  switch (format) {
    case 'text':
      return terminalSummary(report, { color: opts.color === true });
    case 'json':
      validateReport(report);
      return `${jsonForTerminal(maskSecrets(JSON.stringify(report, null, 2)))}\n`;
    case 'sarif':
      return `${jsonForTerminal(maskSecrets(JSON.stringify(toSarif(report), null, 2)))}\n`;
    case 'html':
      return toHtml(report, opts.events ?? []);
    case 'cef':
      return `${toCef(report).join('\n')}\n`;
  }
}

/** What `--out` writes for each format: every format but the terminal summary. */
const FILES: [string, Exclude<ReportFormat, 'text'>][] = [
  ['report.json', 'json'],
  ['report.sarif', 'sarif'],
  ['report.html', 'html'],
  ['report.cef', 'cef'],
];

/** Writes report.json, report.sarif, report.html, report.cef and events.jsonl into `outDir`. */
export async function writeOutputs(report: Report, outDir: string, events: TraceEvent[] = []): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const files: [string, string][] = [
    ...FILES.map(([name, format]): [string, string] => [name, render(report, format, { events })]),
    ['events.jsonl', events.map((e) => maskSecrets(JSON.stringify(e))).join('\n') + (events.length ? '\n' : '')],
  ];
  for (const [name, text] of files) await writeFile(join(outDir, name), text);
  return files.map(([name]) => join(outDir, name));
}
