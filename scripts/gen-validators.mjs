// Regenerates the ahead-of-time validators (src/core/aot-validator.ts) after a schema changes:
//   npx tsc -p tsconfig.json && node scripts/gen-validators.mjs && npx tsc -p tsconfig.json
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { RULE_VALIDATOR_FILE, ruleValidatorSource } from '../dist/rules/validator-source.js';
import { REPORT_VALIDATOR_FILE, reportValidatorSource } from '../dist/report/validator-source.js';

for (const [file, source] of [
  [RULE_VALIDATOR_FILE, ruleValidatorSource],
  [REPORT_VALIDATOR_FILE, reportValidatorSource],
]) {
  writeFileSync(fileURLToPath(new URL(`../${file}`, import.meta.url)), source());
}
