/** Rules: the TOML rule set shared by vet and agent — loading, validation, matching, kernel subset. */
export { loadRuleSet, parseRuleFile, DEFAULT_RULES_DIR } from './ruleset.js';
export type { RuleSet } from './ruleset.js';
export { matchEvents, compileKernelSubset } from './engine.js';
export { runRuleTests } from './selftest.js';
export { baseScore } from './cvss.js';
export type { Rule } from './schema.js';
