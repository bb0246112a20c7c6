import { Ajv } from 'ajv';
import { aotValidatorSource } from '../core/aot-validator.js';
import { RULE_FILE_SCHEMA } from './schema.js';

/** The file scripts/gen-validators.mjs writes; test/rules/rule-validator.test.ts checks it is current. */
export const RULE_VALIDATOR_FILE = 'src/rules/rule-file.validate.ts';

/** The rule-file schema compiled ahead of time (a vet loads the rules at start-up). */
export function ruleValidatorSource(): string {
  return aotValidatorSource(new Ajv({ allErrors: true, strict: false, code: { source: true, esm: true } }), RULE_FILE_SCHEMA, 'RULE_FILE_SCHEMA', 'src/rules/schema.ts');
}
