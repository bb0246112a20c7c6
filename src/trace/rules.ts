import { LtrackError } from '../core/errors.js';
import type { EventKind } from '../core/event.js';
import type { KernelRuleSet } from '../core/kernel-filter.js';
import { pathKey, type MapEntry } from './maps.js';
import { KEYS, KIND_VALUE, LIMITS } from './wire.js';

/**
 * Compiles the kernel-decidable rules (src/core/kernel-filter.ts) into the tracer's rule maps.
 * Under kernel rules the kernel sends, of each kind that has rules, only the events matching one,
 * tagged with the rule's index (decoded to TraceEvent.ruleId); kinds without rules are unfiltered.
 *
 *   lt_rule_open_exact   struct lt_path_key (256 path bytes, zero-padded)     -> u32 rule index
 *   lt_rule_open_prefix  struct lt_prefix_key: u32 prefixlen = 8 x prefix bytes | 256 path bytes
 *                        (an LPM trie: the longest matching prefix wins)     -> u32 rule index
 *   lt_rule_exec         struct lt_path_key                                  -> u32 rule index
 *   lt_rule_port         u32 port                                            -> u32 rule index
 *
 * Example: { prefix: '/etc/', rule: 2 } -> key 28 00 00 00 '/etc/' 00*251, value 02 00 00 00.
 * An exact path wins over a prefix. Failed opens (unresolved user strings) are never filtered.
 */
interface CompiledRules {
  entries: MapEntry[];
  /** kinds the kernel filters: bit (1 << enum lt_kind) */
  kinds: number;
}

function ruleValue(rule: number, set: KernelRuleSet): Buffer {
  if (!Number.isInteger(rule) || rule < 0 || rule >= set.ruleIds.length || rule > 0xfffe) {
    throw new LtrackError('rules_invalid', `kernel rule index ${rule} does not name one of ${set.ruleIds.length} rule ids`);
  }
  const v = Buffer.alloc(4);
  v.writeUInt32LE(rule);
  return v;
}

export function prefixKey(prefix: string): Buffer {
  const bytes = Buffer.from(prefix, 'utf8');
  if (bytes.length === 0 || bytes.length >= LIMITS.rulePath || !prefix.startsWith('/') || bytes.includes(0)) {
    throw new LtrackError('rules_invalid', `kernel path prefix must be absolute, without NUL and under ${LIMITS.rulePath} bytes: ${JSON.stringify(prefix)}`);
  }
  const key = Buffer.alloc(KEYS.lt_prefix_key.size);
  key.writeUInt32LE(bytes.length * 8, KEYS.lt_prefix_key.prefixlen);
  bytes.copy(key, KEYS.lt_prefix_key.path);
  return key;
}

function portKey(port: number): Buffer {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new LtrackError('rules_invalid', `kernel rule port must be 0-65535, got ${port}`);
  const k = Buffer.alloc(4);
  k.writeUInt32LE(port);
  return k;
}

export function compileRules(set: KernelRuleSet): CompiledRules {
  const entries: MapEntry[] = [
    ...set.openExact.map((r) => ({ map: 'lt_rule_open_exact', key: pathKey(r.path), value: ruleValue(r.rule, set) })),
    ...set.openPrefix.map((r) => ({ map: 'lt_rule_open_prefix', key: prefixKey(r.prefix), value: ruleValue(r.rule, set) })),
    ...set.execPath.map((r) => ({ map: 'lt_rule_exec', key: pathKey(r.path), value: ruleValue(r.rule, set) })),
    ...set.connectPort.map((r) => ({ map: 'lt_rule_port', key: portKey(r.port), value: ruleValue(r.rule, set) })),
  ];
  const bit = (k: EventKind) => 1 << KIND_VALUE[k];
  const kinds = (set.openExact.length + set.openPrefix.length > 0 ? bit('file_open') : 0) | (set.execPath.length > 0 ? bit('exec') : 0) | (set.connectPort.length > 0 ? bit('connect') : 0);
  return { entries, kinds };
}
