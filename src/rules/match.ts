import { BlockList } from 'node:net';
import { posix } from 'node:path';
import type { TraceEvent } from '../core/event.js';
import type { Condition, Rule, Scalar } from './schema.js';

/**
 * Field values a condition can test: the event's own fields plus a few derived ones, documented
 * here because rules name them:
 *   write    open flags ask for writing, creating or truncating (O_WRONLY|O_RDWR|O_CREAT|O_TRUNC)
 *   failed   the operation returned an error (ret < 0)
 *   basename last component of path
 *   cmdline  argv joined with single spaces
 */
function fieldValue(e: TraceEvent, field: string): Scalar | undefined {
  switch (field) {
    case 'write':
      return e.flags === undefined ? undefined : (e.flags & 0o3) !== 0 || (e.flags & 0o1100) !== 0;
    case 'failed':
      return e.ret === undefined ? undefined : e.ret < 0;
    case 'basename':
      return e.path === undefined ? undefined : posix.basename(e.path);
    case 'cmdline':
      return e.argv === undefined ? undefined : e.argv.join(' ');
    default: {
      const v = (e as unknown as Record<string, unknown>)[field];
      return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? v : undefined;
    }
  }
}

/** A condition compiled once: regexes, globs and CIDR lists are built at load, not per event. */
export type Predicate = (e: TraceEvent) => boolean;

export function compileCondition(c: Condition): Predicate {
  const negate = c.op.startsWith('not_');
  const op = (negate ? c.op.slice(4) : c.op) as Exclude<Condition['op'], `not_${string}`>;
  const values = Array.isArray(c.value) ? c.value : [c.value];
  let test: (v: Scalar) => boolean;
  switch (op) {
    case 'eq':
    case 'in':
      test = (v) => values.some((x) => x === v);
      break;
    case 'prefix':
      test = (v) => typeof v === 'string' && values.some((x) => v.startsWith(String(x)));
      break;
    case 'suffix':
      test = (v) => typeof v === 'string' && values.some((x) => v.endsWith(String(x)));
      break;
    case 'glob': {
      const res = values.map((x) => globToRegExp(String(x)));
      test = (v) => typeof v === 'string' && res.some((r) => r.test(v));
      break;
    }
    case 'regex': {
      const res = values.map((x) => new RegExp(String(x), 'u'));
      test = (v) => typeof v === 'string' && res.some((r) => r.test(v));
      break;
    }
    case 'cidr': {
      // The family by its separator: BlockList parses the address itself (and refuses a bad one),
      // and node:net's isIPv6 compiles a large regex on first use — a tenth of a static vet's start.
      const family = (a: string) => (a.includes(':') ? 'ipv6' : 'ipv4');
      const list = new BlockList();
      for (const x of values) {
        const [net, bits] = String(x).split('/');
        if (!net || bits === undefined) throw new Error(`not a CIDR: ${String(x)}`);
        list.addSubnet(net, Number(bits), family(net));
      }
      test = (v) => typeof v === 'string' && list.check(v, family(v));
      break;
    }
  }
  // A missing field satisfies no condition, negated or not: a rule about paths never fires on a connect.
  return (e) => {
    const v = fieldValue(e, c.field);
    if (v === undefined) return false;
    return test(v) !== negate;
  };
}

/** `**` any run of characters, `*` within one path segment, `?` one character of a segment. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (ch === '*' && glob[i + 1] === '*') {
      re += '.*';
      i++;
    } else if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 'u');
}

/** One event against one single-event rule: kind, phase and every condition. */
export function compileRule(rule: Rule): Predicate {
  const kinds = new Set(rule.kinds ?? []);
  const phases = rule.phases ? new Set(rule.phases) : undefined;
  const conds = (rule.conditions ?? []).map(compileCondition);
  return (e) => kinds.has(e.kind) && (phases === undefined || (e.phase !== undefined && phases.has(e.phase))) && conds.every((p) => p(e));
}
