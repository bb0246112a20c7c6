import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { LtrackError } from '../core/errors.js';
import { projectPath } from '../core/paths.js';
import { compileCondition, compileRule, type Predicate } from './match.js';
import { schemaErrors, type Rule } from './schema.js';
import { validateVector } from './cvss.js';

export interface RuleSet {
  rules: Rule[];
  /** sha256 over the rule files' names and bytes in name order: what a manifest pins. */
  digest: string;
  files: string[];
  byId(id: string): Rule | undefined;
  /** Compiled matchers of single-event dynamic rules. */
  matchers: { rule: Rule; test: Predicate }[];
  /** Compiled chain rules: one predicate per step. */
  chains: { rule: Rule; steps: Predicate[] }[];
}

export const DEFAULT_RULES_DIR = projectPath('rules');

/**
 * Loads rule files (a folder's *.toml, or the files given), validates each against the schema,
 * checks every CVSS vector and every regex/CIDR compiles, and rejects duplicate ids. Any problem is
 * an error naming the file: a vet never runs on a rule set it could only half read.
 * Files that are not rules (pickle-globals.toml, the static engine's tables) are skipped by name.
 */
export async function loadRuleSet(dirOrFiles: string | string[] = DEFAULT_RULES_DIR): Promise<RuleSet> {
  const files = await ruleFiles(dirOrFiles);
  const hash = createHash('sha256');
  const rules: Rule[] = [];
  const ids = new Map<string, string>();
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new LtrackError('bad_input', 'cannot read rule file', { cause: err, file });
    }
    hash.update(`${basename(file)}\0${text}\0`);
    for (const rule of parseRuleFile(text, file)) {
      const seen = ids.get(rule.id);
      if (seen) throw new LtrackError('rules_invalid', `duplicate rule id ${rule.id} (also in ${seen})`, { file });
      ids.set(rule.id, file);
      rules.push({ ...rule, file });
    }
  }
  const byId = new Map(rules.map((r) => [r.id, r]));
  return {
    rules,
    digest: hash.digest('hex'),
    files,
    byId: (id) => byId.get(id),
    matchers: rules.filter((r) => r.source === 'dynamic' && r.kinds).map((rule) => ({ rule, test: compileRule(rule) })),
    chains: rules.filter((r) => r.chain).map((rule) => ({ rule, steps: rule.chain!.map((s) => compileRule({ ...rule, kinds: s.kinds, conditions: s.conditions ?? [], phases: rule.phases })) })),
  };
}

/** Parses and validates one file's text; errors name the file and the rule. */
export function parseRuleFile(text: string, file: string): Rule[] {
  let doc: unknown;
  try {
    doc = parseToml(text);
  } catch (err) {
    throw new LtrackError('rules_invalid', `not valid TOML: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`, { cause: err, file });
  }
  const errors = schemaErrors(doc);
  if (errors.length > 0) throw new LtrackError('rules_invalid', `schema: ${errors.slice(0, 5).join('; ')}`, { file });
  const rules = (doc as { rule: Rule[] }).rule;
  for (const rule of rules) {
    const bad = validateVector(rule.cvss);
    if (bad) throw new LtrackError('rules_invalid', `${rule.id}: ${bad}`, { file });
    for (const c of [...(rule.conditions ?? []), ...(rule.chain ?? []).flatMap((s) => s.conditions ?? [])]) {
      try {
        compileCondition(c);
      } catch (err) {
        throw new LtrackError('rules_invalid', `${rule.id}: condition on ${c.field}: ${err instanceof Error ? err.message : String(err)}`, { file });
      }
    }
  }
  return rules;
}

/** Files holding rule tables (`[[rule]]`); the static engine's own data files live beside them. */
const NOT_RULE_FILES = new Set(['pickle-globals.toml', 'gadgets.toml']);

async function ruleFiles(dirOrFiles: string | string[]): Promise<string[]> {
  if (Array.isArray(dirOrFiles)) return [...dirOrFiles].sort();
  const s = await stat(dirOrFiles).catch((err: unknown) => Promise.reject(new LtrackError('bad_input', 'no such rule folder or file', { cause: err, file: dirOrFiles })));
  if (!s.isDirectory()) return [dirOrFiles];
  const names = (await readdir(dirOrFiles)).filter((n) => n.endsWith('.toml') && !NOT_RULE_FILES.has(n)).sort();
  return names.map((n) => join(dirOrFiles, n));
}
