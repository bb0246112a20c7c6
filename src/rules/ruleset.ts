import { readFileSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { LtrackError } from '../core/errors.js';
import { projectPath } from '../core/paths.js';
import { sha256, sha256Named } from '../core/sha256.js';
import { rememberGadgetFileDigest } from './gadgets.js';
import { compileCondition, compileRule, type Predicate } from './match.js';
import { schemaErrors, type Rule } from './schema.js';
import { validateVector } from './cvss.js';

export interface RuleSet {
  rules: Rule[];
  /**
   * sha256 over the names and sha256s of every file of the rules folder in name order (the rule
   * files and the data beside them: the pickle globals table, the gadget table, the package list),
   * or of the files given: what a manifest pins.
   */
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
 * Files that are not rules (pickle-globals.toml, the static engine's tables) are not parsed as
 * rules but are digested all the same.
 */
export async function loadRuleSet(dirOrFiles: string | string[] = DEFAULT_RULES_DIR): Promise<RuleSet> {
  const { files, digested } = await ruleFiles(dirOrFiles);
  const bytes = new Map<string, Buffer>();
  for (const file of digested) {
    try {
      // synchronously: a dozen small files, each an async round trip otherwise
      bytes.set(file, readFileSync(file));
    } catch (err) {
      throw new LtrackError('bad_input', 'cannot read rule file', { cause: err, file });
    }
  }
  const rules: Rule[] = [];
  const ids = new Map<string, string>();
  for (const file of files) {
    for (const rule of parseRuleFile(bytes.get(file)!.toString('utf8'), file)) {
      const seen = ids.get(rule.id);
      if (seen) throw new LtrackError('rules_invalid', `duplicate rule id ${rule.id} (also in ${seen})`, { file });
      ids.set(rule.id, file);
      rules.push({ ...rule, file });
    }
  }
  const byId = new Map(rules.map((r) => [r.id, r]));
  return {
    rules,
    digest: sha256Named(
      [...bytes].map(([file, b]) => {
        const digest = sha256(b);
        rememberGadgetFileDigest(file, digest);
        return [basename(file), digest] as const;
      }),
    ),
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

/** TOML files of the rules folder that hold the static engine's data, not rule tables (`[[rule]]`). */
const NOT_RULE_FILES = new Set(['pickle-globals.toml', 'gadgets.toml']);

/** The rule files to parse and the files to digest: of a folder, every regular file in it. */
async function ruleFiles(dirOrFiles: string | string[]): Promise<{ files: string[]; digested: string[] }> {
  if (Array.isArray(dirOrFiles)) {
    const files = [...dirOrFiles].sort();
    return { files, digested: files };
  }
  const s = await stat(dirOrFiles).catch((err: unknown) => Promise.reject(new LtrackError('bad_input', 'no such rule folder or file', { cause: err, file: dirOrFiles })));
  if (!s.isDirectory()) return { files: [dirOrFiles], digested: [dirOrFiles] };
  const entries = (await readdir(dirOrFiles, { withFileTypes: true }))
    .filter((e) => e.isFile())
    .map((e) => e.name)
    .sort();
  return {
    files: entries.filter((n) => n.endsWith('.toml') && !NOT_RULE_FILES.has(n)).map((n) => join(dirOrFiles, n)),
    digested: entries.map((n) => join(dirOrFiles, n)),
  };
}
