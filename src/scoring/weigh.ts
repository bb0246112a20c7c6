import type { Detection, Finding } from '../core/finding.js';
import { LtrackError } from '../core/errors.js';
import { severityOfScore, severityRank, type Severity } from '../core/severity.js';
import { baseScore, type RuleSet } from '../rules/index.js';

/** Facts about the run that change how much a detection matters (documented in README.md here). */
export interface ScoringContext {
  /** The sandboxed process ran as root (it never should: uid 65534). */
  runAsRoot: boolean;
}

/**
 * Additive weights on the 0–10 scale, applied to the rule's CVSS v4.0 base score and capped at 10.
 * They only raise a score: context can make a finding worse, never quietly better.
 */
export const CONTEXT_WEIGHTS = Object.freeze({
  /** The payload ran with root privileges: every impact is larger. */
  root: 1.0,
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

/** Rule families whose static and dynamic findings describe the same behaviour. */
const AGREEMENT: [RegExp, RegExp][] = [
  [/^LT-PKL-00[1]$/, /^LT-EXEC-/], // process execution
  [/^LT-PKL-00[2]$/, /^LT-EXEC-004$/], // native code loading
  [/^LT-PKL-00[3]$/, /^LT-NET-/], // network
  [/^LT-PKL-00[4]$/, /^LT-FILE-001$/], // file reads of secrets
  [/^LT-PKL-00[5]$/, /^LT-FILE-00[23]$/], // file writes for persistence
];

/**
 * Turns detections into findings: the rule supplies title, CVSS vector, ATT&CK ids and action;
 * the base score comes from the vector; the context weights raise it; the severity is the rule's,
 * raised to the weighted score's CVSS rating when that is higher. Findings come out highest first.
 */
export function score(rules: RuleSet, detections: Detection[], context: ScoringContext): Finding[] {
  const dynamic = detections.filter((d) => d.source === 'dynamic');
  const decoyTouched = dynamic.some((d) => d.ruleId === 'LT-FILE-001' || d.ruleId.startsWith('LT-CHAIN-'));
  const networkAttempted = dynamic.some((d) => d.ruleId.startsWith('LT-NET-'));
  // When a chain fired, it carries the combination (secret read + exec + network): its parts are
  // not raised for it again, so the chain ranks above every part instead of tying at the cap.
  const chained = dynamic.some((d) => d.ruleId.startsWith('LT-CHAIN-'));
  const findings = detections.map((d): Finding => {
    const rule = rules.byId(d.ruleId);
    if (!rule) throw new LtrackError('internal', `detection names rule ${d.ruleId}, which the rule set does not declare`);
    const base = baseScore(rule.cvss);
    const weighting: string[] = [];
    let s = base;
    const add = (w: number, why: string) => {
      s += w;
      weighting.push(`+${w} ${why}`);
    };
    if (context.runAsRoot) add(CONTEXT_WEIGHTS.root, 'ran as root');
    if (d.source === 'dynamic' && (d.phase === 'load' || d.phase === 'probe')) add(CONTEXT_WEIGHTS.loadPhase, `during ${d.phase}`);
    const combined = !chained || d.ruleId.startsWith('LT-CHAIN-');
    if (combined && decoyTouched && d.ruleId !== 'LT-FILE-001') add(CONTEXT_WEIGHTS.decoyTouched, 'the run read a decoy secret');
    if (combined && networkAttempted && !d.ruleId.startsWith('LT-NET-')) add(CONTEXT_WEIGHTS.networkAttempted, 'the run attempted network access');
    if (agrees(d, detections)) add(CONTEXT_WEIGHTS.staticDynamicAgree, 'static and dynamic analysis agree');
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

function agrees(d: Detection, all: Detection[]): boolean {
  for (const [stat, dyn] of AGREEMENT) {
    if (d.source === 'static' && stat.test(d.ruleId)) return all.some((o) => o.source === 'dynamic' && dyn.test(o.ruleId));
    if (d.source === 'dynamic' && dyn.test(d.ruleId)) return all.some((o) => o.source === 'static' && stat.test(o.ruleId));
  }
  return false;
}
