// Regenerates the ahead-of-time rule-file validator after RULE_FILE_SCHEMA changes:
//   npx tsc -p tsconfig.json && node scripts/gen-rule-validator.mjs && npx tsc -p tsconfig.json
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { RULE_VALIDATOR_FILE, ruleValidatorSource } from '../dist/rules/validator-source.js';

writeFileSync(fileURLToPath(new URL(`../${RULE_VALIDATOR_FILE}`, import.meta.url)), ruleValidatorSource());
