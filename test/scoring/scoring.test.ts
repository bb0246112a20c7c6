import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { validateVector } from '../../src/rules/cvss.js';
import { baseScore, loadRuleSet, type Rule, type RuleSet } from '../../src/rules/index.js';
import { score, verdict, CONTEXT_WEIGHTS } from '../../src/scoring/index.js';
import type { Detection } from '../../src/core/finding.js';

describe('CVSS v4.0 base scores (values from FIRST’s specification examples and calculator)', () => {
  it.each([
    ['CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N', 9.3],
    ['CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H', 10],
    ['CVSS:4.0/AV:L/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N', 8.5],
    ['CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N', 0],
  ])('%s → %s', (vector, expected) => {
    expect(baseScore(vector)).toBe(expected);
  });
});

describe('CVSS v4.0 vectors a rule file may hold', () => {
  // validateVector accepts base-only vectors without scoring them (loading rules stays cheap): that
  // holds only if the calculator scores every one of them.
  it('every base-only vector with defined values scores between 0 and 10', () => {
    const metric = (name: string, values: string) => fc.constantFrom(...values.split('').map((v) => `${name}:${v}`));
    const vectors = fc
      .tuple(metric('AV', 'NALP'), metric('AC', 'LH'), metric('AT', 'NP'), metric('PR', 'NLH'), metric('UI', 'NPA'), ...['VC', 'VI', 'VA', 'SC', 'SI', 'SA'].map((m) => metric(m, 'HLN')))
      .map((parts) => `CVSS:4.0/${parts.join('/')}`);
    fc.assert(
      fc.property(vectors, (v) => {
        expect(validateVector(v)).toBeUndefined();
        const s = baseScore(v);
        expect(s >= 0 && s <= 10).toBe(true);
      }),
      { numRuns: 400 },
    );
    expect(validateVector('CVSS:4.0/AV:L/AC:L/AT:N/PR:N/UI:P/VC:H/VI:H/VA:N/SC:N/SI:N/SA:N/E:Q')).toMatch(/rejected/);
    expect(validateVector('CVSS:4.0/AV:L/AC:L/AT:N/PR:N/UI:P/VC:H/VI:H/VA:N/SC:N/SI:N/SA:N/E:A')).toBeUndefined();
    expect(validateVector('CVSS:4.0/AV:L/AC:L/AT:N/PR:N/UI:P/VC:H/VI:H/VA:N/SC:N/SI:N')).toMatch(/not a complete/);
  });
});

describe('context weighting and verdict', async () => {
  const rules = await loadRuleSet();
  const dyn = (ruleId: string, phase: Detection['phase'] = 'load'): Detection => ({ ruleId, source: 'dynamic', phase, message: ruleId, evidence: {} });
  const stat = (ruleId: string): Detection => ({ ruleId, source: 'static', phase: 'static', message: ruleId, evidence: {} });

  it('raises a load-phase finding over the same finding at install, never lowers it', () => {
    const [install] = score(rules, [dyn('LT-EXEC-002', 'install')]);
    const [load] = score(rules, [dyn('LT-EXEC-002', 'load')]);
    expect(install!.cvss.score).toBe(install!.cvss.base);
    expect(load!.cvss.score).toBeCloseTo(load!.cvss.base + CONTEXT_WEIGHTS.loadPhase, 5);
  });

  it('weights decoys touched, network attempted and static/dynamic agreement, capped at 10', () => {
    const found = score(rules, [stat('LT-PKL-001'), dyn('LT-EXEC-002', 'install'), dyn('LT-FILE-001', 'install'), dyn('LT-NET-001', 'install')]);
    const shell = found.find((f) => f.ruleId === 'LT-EXEC-002')!;
    expect(shell.cvss.weighting).toEqual(['+0.5 the run read a decoy secret', '+0.3 the run attempted network access', '+0.5 static and dynamic analysis agree']);
    expect(found.every((f) => f.cvss.score <= 10)).toBe(true);
    expect(found.find((f) => f.ruleId === 'LT-PKL-001')!.cvss.weighting).toContain('+0.5 static and dynamic analysis agree');
  });

  it('a chain scores above each of its parts', () => {
    const found = score(rules, [dyn('LT-FILE-001'), dyn('LT-EXEC-001'), dyn('LT-NET-001'), dyn('LT-CHAIN-001')]);
    const chain = found.find((f) => f.ruleId === 'LT-CHAIN-001')!;
    for (const part of found.filter((f) => f.ruleId !== 'LT-CHAIN-001')) expect(chain.cvss.score).toBeGreaterThanOrEqual(part.cvss.score);
    expect(found[0]!.ruleId).toBe('LT-CHAIN-001');
  });

  it('blocks at or above --fail-on, is incomplete when the run could not see everything, passes otherwise', () => {
    const medium = score(rules, [stat('LT-PKL-008')]);
    expect(verdict(medium, { failOn: 'high', incompleteReasons: [] }).status).toBe('pass');
    expect(verdict(medium, { failOn: 'medium', incompleteReasons: [] }).status).toBe('block');
    expect(verdict([], { failOn: 'high', incompleteReasons: ['3 kernel events were dropped'] })).toMatchObject({ status: 'incomplete', reasons: ['3 kernel events were dropped'] });
    expect(verdict(score(rules, [stat('LT-PKL-001')]), { failOn: 'high', incompleteReasons: ['x'] }).status).toBe('block');
  });

  it('reads what a rule is about from its family and tags, not from its id', () => {
    const found = [stat('LT-PKL-001'), dyn('LT-EXEC-002', 'install'), dyn('LT-FILE-001', 'install')];
    const relabelled = (change: (id: string, r: Rule) => Rule): RuleSet => ({
      ...rules,
      byId: (id) => {
        const r = rules.byId(id);
        return r && change(id, r);
      },
    });
    const weights = (set: RuleSet) => score(set, found).find((f) => f.ruleId === 'LT-EXEC-002')!.cvss.weighting;
    expect(weights(rules)).toEqual(['+0.5 the run read a decoy secret', '+0.5 static and dynamic analysis agree']);
    // the pickle rule now claims another family, and the decoy rule loses its tag: neither weight applies
    const other = relabelled((id, r) => (id === 'LT-PKL-001' ? { ...r, family: 'network' } : id === 'LT-FILE-001' ? { ...r, tags: [] } : r));
    expect(weights(other)).toEqual([]);
  });

  it('refuses a detection that names an undeclared rule', () => {
    expect(() => score(rules, [stat('LT-PKL-999')])).toThrow(/does not declare/);
  });
});
