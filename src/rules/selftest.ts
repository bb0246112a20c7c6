import type { TraceEvent } from '../core/event.js';
import { matchEvents } from './engine.js';
import type { RuleSet } from './ruleset.js';
import type { Rule } from './schema.js';

interface RuleTestResult {
  ruleId: string;
  file: string;
  index: number;
  expect: 'match' | 'no_match';
  passed: boolean;
}

/** Defaults for the fields a test case leaves out: a traced python3 in the load phase. */
const BASE: TraceEvent = { ts: 0, kind: 'file_open', pid: 100, tgid: 100, ppid: 1, uid: 65534, cgroup: 1, mntns: 1, comm: 'python3', phase: 'load', count: 1 };

/**
 * Runs every rule's inline cases against that rule alone (`ltrack rules test`), and reports the
 * dynamic rules that lack a positive or a negative case: a rule nobody has seen fire, or seen stay
 * quiet, is untested.
 */
export function runRuleTests(set: RuleSet): { results: RuleTestResult[]; untested: string[] } {
  const results: RuleTestResult[] = [];
  const untested: string[] = [];
  for (const rule of set.rules) {
    const tests = rule.tests ?? [];
    if (rule.source === 'dynamic' && !(tests.some((t) => t.expect === 'match') && tests.some((t) => t.expect === 'no_match'))) untested.push(rule.id);
    const alone = only(set, rule);
    tests.forEach((t, index) => {
      const raw = t.events ?? (t.event ? [t.event] : []);
      const events = raw.map((e, i) => ({ ...BASE, ts: i + 1, ...e }));
      const matched = matchEvents(alone, events).length > 0;
      results.push({ ruleId: rule.id, file: rule.file ?? '', index, expect: t.expect, passed: matched === (t.expect === 'match') });
    });
  }
  return { results, untested };
}

function only(set: RuleSet, rule: Rule): RuleSet {
  return {
    ...set,
    rules: [rule],
    matchers: set.matchers.filter((m) => m.rule === rule),
    chains: set.chains.filter((c) => c.rule === rule),
  };
}
