import type { Detection, Finding } from '../core/finding.js';
import { LtrackError } from '../core/errors.js';
import { severityOfScore, severityRank, type Severity } from '../core/severity.js';
import { baseScore, type Rule, type RuleSet } from '../rules/index.js';

/**
 * Additive weights on the 0–10 scale, applied to the rule's CVSS v4.0 base score and capped at 10.
 * They only raise a score: context can make a finding worse, never quietly better.
 */
export const CONTEXT_WEIGHTS = Object.freeze({
  /** Happened while loading or exercising the model (the act the vet is about), not while installing. */
  loadPhase: 0.5,
  /** The run touched a decoy secret: whatever else it did was done by a credential thief. */
  decoyTouched: 0.5,
  /** The run attempted network access: whatever it read could have left. */
  networkAttempted: 0.3,
  /** Static analysis and the kernel saw the same family of behaviour: independent confirmation. */
  staticDynamicAgree: 0.5,
  /** The callable is handed a shell command line or Python source (evidence.payload): rated critical whatever its rule. */
  payloadArgument: 1.0,
});

/**
 * Turns detections into findings: the rule supplies title, CVSS vector, ATT&CK ids and action;
 * the base score comes from the vector; the context weights raise it; the severity is the rule's,
 * raised to the weighted score's CVSS rating when that is higher. Findings come out highest first.
 * What a rule is about (its family, its tags, whether it is a chain) is read from the rule, never
 * from its id.
 */
export function score(rules: RuleSet, detections: Detection[]): Finding[] {
  const ruled = detections.map((d) => {
    const rule = rules.byId(d.ruleId);
    if (!rule) throw new LtrackError('internal', `detection names rule ${d.ruleId}, which the rule set does not declare`);
    return { d, rule };
  });
  const dynamic = ruled.filter(({ d }) => d.source === 'dynamic').map(({ rule }) => rule);
  const decoyTouched = dynamic.some((r) => r.tags?.includes('decoy'));
  const networkAttempted = dynamic.some((r) => r.family === 'network');
  // When a chain fired, it carries the combination (secret read + exec + network): its parts are
  // not raised for it again, so the chain ranks above every part instead of tying at the cap.
  const chained = dynamic.some((r) => r.chain !== undefined);
  const families = (source: Detection['source']) => new Set(ruled.filter(({ d }) => d.source === source).map(({ rule }) => rule.family));
  const seen = { static: families('static'), dynamic: families('dynamic') };
  const findings = ruled.map(({ d, rule }): Finding => {
    const base = baseScore(rule.cvss);
    const weighting: string[] = [];
    let s = base;
    const add = (w: number, why: string) => {
      s += w;
      weighting.push(`+${w} ${why}`);
    };
    if (d.source === 'dynamic' && (d.phase === 'load' || d.phase === 'probe')) add(CONTEXT_WEIGHTS.loadPhase, `during ${d.phase}`);
    const combined = !chained || rule.chain !== undefined;
    // A single-event detection is not raised for what it itself is (the decoy read, the connection).
    const single = d.source === 'dynamic' && rule.chain === undefined;
    if (combined && decoyTouched && !(single && rule.tags?.includes('decoy'))) add(CONTEXT_WEIGHTS.decoyTouched, 'the run read a decoy secret');
    if (combined && networkAttempted && !(single && rule.family === 'network')) add(CONTEXT_WEIGHTS.networkAttempted, 'the run attempted network access');
    if (agrees(rule, d.source, seen)) add(CONTEXT_WEIGHTS.staticDynamicAgree, 'static and dynamic analysis agree');
    const payload = payloadOf(d);
    if (payload) add(CONTEXT_WEIGHTS.payloadArgument, `its argument is ${payload === 'shell' ? 'a shell command line' : 'Python source'}`);
    const weighted = Math.min(10, Math.round(s * 10) / 10);
    const rated = severityOfScore(weighted);
    // executable text handed to a callable is what the process-execution and code rules describe
    const floor: Severity = payload ? 'critical' : rule.severity;
    const severity = severityRank(rated) > severityRank(floor) ? rated : floor;
    return { ...d, title: rule.title, severity, cvss: { vector: rule.cvss, base, score: weighted, weighting }, mitre: rule.mitre, action: rule.action };
  });
  return findings.sort((a, b) => severityRank(b.severity) - severityRank(a.severity) || b.cvss.score - a.cvss.score);
}

/** The kind of executable text a static finding's callable is handed (src/static/payload-args.ts), if any. */
function payloadOf(d: Detection): 'shell' | 'python' | undefined {
  const p = d.evidence.payload as { kind?: unknown } | undefined;
  return d.source === 'static' && (p?.kind === 'shell' || p?.kind === 'python') ? p.kind : undefined;
}

/** A detection of a family that the other analysis also saw: static and dynamic analysis agree. */
function agrees(rule: Rule, source: Detection['source'], seen: Record<Detection['source'], Set<Rule['family']>>): boolean {
  return rule.family !== undefined && seen[source === 'static' ? 'dynamic' : 'static'].has(rule.family);
}
