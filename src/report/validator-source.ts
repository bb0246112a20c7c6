import { _ } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { aotValidatorSource } from '../core/aot-validator.js';
import { REPORT_JSON_SCHEMA } from './schema.js';

/** The file scripts/gen-validators.mjs writes; test/report/report-validator.test.ts checks it is current. */
export const REPORT_VALIDATOR_FILE = 'src/report/report.validate.ts';

/** The options a run-time compile of the report schema uses (the test compiles with them too). */
export function reportAjv(code?: { source: true; esm: true }): Ajv2020 {
  // formats (date-time) come from ajv-formats, which the generated code require()s
  const ajv = new Ajv2020({ allErrors: true, strict: false, ...(code ? { code: { ...code, formats: _`require("ajv-formats/dist/formats").fullFormats` } } : {}) });
  (addFormats as unknown as (a: Ajv2020) => void)(ajv);
  return ajv;
}

/** The report schema compiled ahead of time (every JSON report is validated before it is written). */
export function reportValidatorSource(): string {
  return aotValidatorSource(reportAjv({ source: true, esm: true }), REPORT_JSON_SCHEMA, 'REPORT_JSON_SCHEMA', 'src/report/schema.ts');
}
