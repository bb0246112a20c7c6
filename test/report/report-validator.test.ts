import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { validateReport } from '../../src/report/index.js';
import { REPORT_JSON_SCHEMA } from '../../src/report/schema.js';
import { REPORT_VALIDATOR_FILE, reportAjv, reportValidatorSource } from '../../src/report/validator-source.js';

describe('the ahead-of-time report validator', () => {
  it('is the code the current REPORT_JSON_SCHEMA compiles to (else run scripts/gen-validators.mjs)', () => {
    expect(readFileSync(REPORT_VALIDATOR_FILE, 'utf8')).toBe(reportValidatorSource());
  });

  it('accepts and refuses what a run-time compile of the schema does, with the same errors', () => {
    const ajv = reportAjv();
    const runtime = ajv.compile(REPORT_JSON_SCHEMA);
    const good = {
      version: '1.0.0',
      tool: { name: 'ltrack', version: '0' },
      startedAt: '2026-12-03T10:00:00.000Z',
      targets: [],
      verdict: { status: 'pass', severity: 'info', score: 0, failOn: 'high', reasons: [] },
      findings: [],
      observed: { filesRead: [], filesWritten: [], librariesMapped: [], exec: [], network: [], packages: [] },
      stats: { events: 0, drops: 0, tracerTiers: [], sandbox: 'none', durationsMs: {} },
      rulesetDigest: '0'.repeat(64),
    };
    const docs: unknown[] = [good, {}, { ...good, startedAt: 'yesterday' }, { ...good, verdict: { ...good.verdict, status: 'maybe' } }, { ...good, extra: 1 }, { ...good, targets: [{ path: 1 }] }];
    for (const doc of docs) {
      const ok = runtime(doc);
      if (ok) expect(() => validateReport(doc)).not.toThrow();
      else expect(() => validateReport(doc)).toThrow(`report does not match its schema: ${ajv.errorsText(runtime.errors)}`);
    }
  });
});
