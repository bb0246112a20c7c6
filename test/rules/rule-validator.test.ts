import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Ajv } from 'ajv';
import { RULE_FILE_SCHEMA, schemaErrors } from '../../src/rules/schema.js';
import { RULE_VALIDATOR_FILE, ruleValidatorSource } from '../../src/rules/validator-source.js';

describe('the ahead-of-time rule-file validator', () => {
  it('is the code the current RULE_FILE_SCHEMA compiles to (else run scripts/gen-validators.mjs)', () => {
    expect(readFileSync(RULE_VALIDATOR_FILE, 'utf8')).toBe(ruleValidatorSource());
  });

  it('reports the errors a run-time compile of the schema reports', () => {
    const runtime = new Ajv({ allErrors: true, strict: false }).compile(RULE_FILE_SCHEMA);
    const docs: unknown[] = [
      {},
      { rule: [] },
      { rule: [{ id: 'LT-X', title: 1, source: 'dynamic', severity: 'fatal', cvss: 'CVSS:3.1/AV:N', mitre: [], action: 'nap', extra: true }] },
      {
        rule: [
          {
            id: 'LT-ABC-001',
            title: 't',
            description: 'd',
            source: 'static',
            severity: 'high',
            cvss: 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N',
            mitre: ['T1059'],
            action: 'block',
            kinds: ['exec'],
          },
        ],
      },
    ];
    for (const doc of docs) {
      const expected = runtime(doc) ? [] : (runtime.errors ?? []).filter((e) => e.keyword !== 'if').map((e) => `${e.instancePath || '/'}: ${e.message ?? 'invalid'}`);
      expect(schemaErrors(doc)).toEqual(expected);
    }
    expect(schemaErrors(docs[0]).length).toBeGreaterThan(0);
  });
});
