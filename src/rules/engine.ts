import type { TraceEvent } from '../core/event.js';
import type { Detection } from '../core/finding.js';
import type { KernelRuleSet } from '../core/kernel-filter.js';
import type { Rule } from './schema.js';
import type { RuleSet } from './ruleset.js';

/** Detections of one rule beyond this many distinct instances are folded into the last one's count. */
const PER_RULE_CAP = 25;

/**
 * Matches kernel events against the dynamic rules: single-event rules per event, chain rules over
 * each process tree. Repeats of the same thing (same rule, process, path or peer) are one detection
 * with a count, so a loop that reads a decoy 10,000 times is one finding, not 10,000.
 */
export function matchEvents(rules: RuleSet, events: TraceEvent[]): Detection[] {
  const out = new Map<string, Detection>();
  const perRule = new Map<string, number>();
  for (const e of events) {
    for (const { rule, test } of rules.matchers) {
      if (!test(e)) continue;
      const key = `${rule.id}\0${e.tgid}\0${instanceKey(e)}`;
      const seen = out.get(key);
      if (seen) {
        seen.evidence.count = (seen.evidence.count as number) + e.count;
        continue;
      }
      const n = perRule.get(rule.id) ?? 0;
      perRule.set(rule.id, n + 1);
      if (n >= PER_RULE_CAP) continue;
      out.set(key, detection(rule, e));
    }
  }
  for (const { rule, steps } of rules.chains) {
    const hit = matchChain(steps, events);
    if (hit) {
      const last = hit[hit.length - 1]!;
      out.set(`${rule.id}\0chain`, {
        ruleId: rule.id,
        source: 'dynamic',
        phase: last.phase ?? 'startup',
        message: `chain in one process tree: ${hit.map((e) => `${e.kind} ${instanceKey(e)}`).join(' → ')}`,
        evidence: { steps: hit.map(plain), count: 1 },
      });
    }
  }
  return [...out.values()];
}

/**
 * The first ordered sequence of events matching the steps in which each later event comes from the
 * same process as the one before or a descendant of it (parentage from fork events and ppid).
 */
function matchChain(steps: ((e: TraceEvent) => boolean)[], events: TraceEvent[]): TraceEvent[] | undefined {
  const parent = new Map<number, number>();
  for (const e of events) {
    if (e.kind === 'fork' && e.childTgid !== undefined) parent.set(e.childTgid, e.tgid);
    if (e.ppid && !parent.has(e.tgid)) parent.set(e.tgid, e.ppid);
  }
  const descends = (child: number, ancestor: number): boolean => {
    for (let p: number | undefined = child, hops = 0; p !== undefined && hops < 64; p = parent.get(p), hops++) if (p === ancestor) return true;
    return false;
  };
  const sorted = [...events].sort((a, b) => a.ts - b.ts);
  const search = (from: number, step: number, anchor: number | undefined, acc: TraceEvent[]): TraceEvent[] | undefined => {
    if (step === steps.length) return acc;
    for (let i = from; i < sorted.length; i++) {
      const e = sorted[i]!;
      if (!steps[step]!(e)) continue;
      if (anchor !== undefined && !descends(e.tgid, anchor)) continue;
      // The chain's root is the first step's process; later steps stay in its tree.
      const found = search(i + 1, step + 1, anchor ?? e.tgid, [...acc, e]);
      if (found) return found;
      if (step === 0) continue;
      return undefined;
    }
    return undefined;
  };
  return search(0, 0, undefined, []);
}

function detection(rule: Rule, e: TraceEvent): Detection {
  return {
    ruleId: rule.id,
    source: 'dynamic',
    phase: e.phase ?? 'startup',
    message: `${e.kind} ${instanceKey(e)} by ${e.comm}[${e.tgid}]${e.phase ? ` during ${e.phase}` : ''}`,
    evidence: { ...plain(e), count: e.count },
  };
}

/** What makes two events of one rule the same instance: their object (path, peer, command line). */
function instanceKey(e: TraceEvent): string {
  if (e.kind === 'exec') return (e.argv ?? [e.path ?? '']).join(' ');
  if (e.addr !== undefined) return `${e.addr}${e.port !== undefined ? `:${e.port}` : ''}`;
  return e.path ?? e.op ?? '';
}

/** A plain-object copy of an event (decoded events expose fields as getters; toJSON gives them all). */
function plain(e: TraceEvent): Record<string, unknown> {
  const j = (e as unknown as { toJSON?: () => Record<string, unknown> }).toJSON;
  return j ? j.call(e) : { ...e };
}

/**
 * The subset of rules the kernel can decide: single conditions on exact paths (eq/in on path of
 * file_open), path prefixes, exec paths and connect ports, without phase restrictions (the kernel
 * does not know harness phases). Everything else is matched in TypeScript. One rule file, both places.
 */
export function compileKernelSubset(rules: RuleSet): KernelRuleSet {
  const out: KernelRuleSet = { ruleIds: [], openExact: [], openPrefix: [], execPath: [], connectPort: [] };
  for (const rule of rules.rules) {
    if (rule.source !== 'dynamic' || !rule.kinds || rule.phases || (rule.conditions ?? []).length !== 1) continue;
    const c = rule.conditions![0]!;
    const values = (Array.isArray(c.value) ? c.value : [c.value]).map(String);
    const idx = out.ruleIds.length;
    const kinds = new Set(rule.kinds);
    let used = false;
    if (kinds.size === 1 && kinds.has('file_open') && c.field === 'path' && (c.op === 'eq' || c.op === 'in')) {
      out.openExact.push(...values.map((path) => ({ path, rule: idx })));
      used = true;
    } else if (kinds.size === 1 && kinds.has('file_open') && c.field === 'path' && c.op === 'prefix') {
      out.openPrefix.push(...values.map((prefix) => ({ prefix, rule: idx })));
      used = true;
    } else if (kinds.size === 1 && kinds.has('exec') && c.field === 'path' && (c.op === 'eq' || c.op === 'in')) {
      out.execPath.push(...values.map((path) => ({ path, rule: idx })));
      used = true;
    } else if (kinds.size === 1 && kinds.has('connect') && c.field === 'port' && (c.op === 'eq' || c.op === 'in')) {
      out.connectPort.push(...values.map((port) => ({ port: Number(port), rule: idx })));
      used = true;
    }
    if (used) out.ruleIds.push(rule.id);
  }
  return out;
}
