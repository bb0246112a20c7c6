import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import ajvDraft04 from 'ajv-draft-04';
import { vet } from '../../src/vet/index.js';
import type * as Sarif from 'sarif';
import { REPORT_FORMATS, render, validateReport, writeOutputs } from '../../src/report/index.js';
import type { Report } from '../../src/core/report.js';
import { DECOY_MARKER } from '../../src/core/decoys.js';
import { FIXTURES } from '../helpers/fixtures.js';

/** The start of an ANSI colour sequence. */
const CSI = '\x1b[';
import type { TraceEvent } from '../../src/core/event.js';

const require = createRequire(import.meta.url);
const sarifSchema = JSON.parse(readFileSync(require.resolve('@microsoft/jest-sarif/lib/schemas/sarif-2.1.0-rtm.5.json'), 'utf8')) as object;

let report: Report;
const sarif = (r: Report) => JSON.parse(render(r, 'sarif')) as Sarif.Log;
const events: TraceEvent[] = [
  { ts: 1, kind: 'exec', pid: 7, tgid: 7, ppid: 1, uid: 65534, cgroup: 1, mntns: 1, comm: 'python3', count: 1, phase: 'startup', path: '/usr/bin/python3', argv: ['python3', 'harness.py'] },
  {
    ts: 2,
    kind: 'exec',
    pid: 8,
    tgid: 8,
    ppid: 7,
    uid: 65534,
    cgroup: 1,
    mntns: 1,
    comm: 'sh',
    count: 1,
    phase: 'load',
    path: '/usr/bin/dash',
    argv: ['sh', '-c', `echo ${DECOY_MARKER}-secret <script>x</script>`],
  },
];

beforeAll(async () => {
  report = (
    await vet({
      paths: [join(FIXTURES, 'malicious', 'system_checkpoint.pt'), join(FIXTURES, 'malicious', 'libhack.pkl')],
      staticOnly: true,
      sandbox: 'auto',
      network: 'none',
      timeoutSec: 60,
      failOn: 'high',
      onProgress: () => undefined,
    })
  ).report;
});

describe('JSON report', () => {
  it('validates against its JSON Schema, and a broken one does not', () => {
    expect(() => validateReport(report)).not.toThrow();
    expect(() => validateReport({ ...report, verdict: { ...report.verdict, status: 'maybe' } })).toThrow(/schema/);
  });
});

describe('SARIF', () => {
  // The official schema has a pattern that is invalid with the u flag; it is matched as JSON Schema draft 4 intends.
  // ajv-draft-04 is CommonJS: under NodeNext its default import is module.exports, the class is its `default`.
  const ajv = new ajvDraft04.default({ allErrors: true, strict: false, unicodeRegExp: false });
  const validate = ajv.compile(sarifSchema);
  it('validates against the official SARIF 2.1.0 schema', () => {
    const log = sarif(report);
    expect(validate(log), ajv.errorsText(validate.errors)).toBe(true);
  });
  it('has security-severity on rules, byte regions for pickle opcodes, and fingerprints stable across runs', async () => {
    const log = sarif(report);
    const run = log.runs[0]!;
    for (const r of run.tool.driver.rules ?? []) expect(Number(r.properties?.['security-severity'])).toBeGreaterThan(0);
    const pkl = run.results!.find((r) => r.ruleId === 'LT-PKL-002')!;
    expect(pkl.locations![0]!.physicalLocation!.region!.byteOffset).toBeTypeOf('number');
    const again = sarif(
      (await vet({ paths: report.targets.map((t) => t.path), staticOnly: true, sandbox: 'auto', network: 'none', timeoutSec: 60, failOn: 'high', onProgress: () => undefined })).report,
    );
    expect(again.runs[0]!.results!.map((r) => r.partialFingerprints)).toEqual(run.results!.map((r) => r.partialFingerprints));
  });
});

describe('HTML, CEF and terminal output', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ltrack-report-'));
  });

  it('renders in headless Chromium with the verdict, every finding and the process tree a reader needs', async () => {
    await writeOutputs(report, dir, events);
    const r = spawnSync(
      'chromium',
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        `--user-data-dir=${join(dir, 'profile')}`,
        '--dump-dom',
        `file://${join(dir, 'report.html')}`,
      ],
      { encoding: 'utf8', timeout: 120_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    const dom = r.stdout;
    expect(dom).toMatch(/<span id="verdict">BLOCK<\/span>/);
    for (const f of report.findings) expect(dom).toContain(f.ruleId);
    expect(dom).toContain('<ul id="tree">');
    expect(dom).not.toContain('<script>x</script>'); // model-derived text is escaped
    expect(dom).not.toContain(DECOY_MARKER); // decoys are masked
    await rm(dir, { recursive: true, force: true });
  });

  it('writes one CEF line per finding plus the verdict, escaped', () => {
    const lines = render(report, 'cef').trimEnd().split('\n');
    expect(lines).toHaveLength(report.findings.length + 1);
    for (const l of lines) expect(l).toMatch(/^CEF:0\|ltrack\|ltrack\|[^|]+\|[A-Z-0-9]+\|[^|]*\|\d+\|/);
    expect(lines.at(-1)).toContain('outcome=block');
  });

  it('has no colour unless asked and escapes control characters', () => {
    const plain = render(report, 'text');
    expect(plain).not.toContain(CSI);
    expect(plain).toMatch(/^BLOCK/);
    expect(render(report, 'text', { color: true })).toContain(CSI);
    const hostile = { ...report, targets: [{ ...report.targets[0]!, path: 'evil\x1b]0;pwned\x07.pt' }] };
    expect(render(hostile, 'text')).toContain('evil\\x1b]0;pwned\\x07.pt');
  });

  it('masks decoy secrets in the HTML and in every written file', async () => {
    const d2 = await mkdtemp(join(tmpdir(), 'ltrack-report-'));
    await writeOutputs(report, d2, events);
    for (const f of ['report.json', 'report.sarif', 'report.html', 'report.cef', 'events.jsonl']) expect(await readFile(join(d2, f), 'utf8')).not.toContain(DECOY_MARKER);
    expect(render(report, 'html', { events })).toContain('[decoy secret masked]');
    for (const format of REPORT_FORMATS) expect(render(report, format, { events })).not.toContain(DECOY_MARKER);
    await rm(d2, { recursive: true, force: true });
  });
});
