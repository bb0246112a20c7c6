import type { Detection } from '../core/finding.js';
import { mapPython2Name } from './pickle/compat.js';
import type { CallRecord, PickleRun } from './pickle/interpreter.js';
import type { Value } from './pickle/values.js';
import { classifyPayload, type PayloadKind } from './payload-text.js';

/** What a finding's evidence.payload holds: the argument that is executable text, and why. */
export interface PayloadEvidence {
  kind: PayloadKind;
  why: string;
  /** The argument's first characters (model-derived: escaped by the writers). */
  text: string;
}

/** Opcodes that call the callable with the pickle's arguments (NEWOBJ only runs __new__), and a planted __setstate__. */
const CALLING = new Set<CallRecord['how']>(['REDUCE', 'INST', 'OBJ', 'NEWOBJ_EX', 'BUILD']);
const SHOWN = 200;

/**
 * Marks the findings about callables a pickle calls with a constant argument that is a shell
 * command line or Python source (src/static/payload-text.ts): evidence.payload says which, the
 * message names it, and scoring raises the finding (src/scoring/weigh.ts) in every mode — a
 * callable nobody listed that is handed `sh -c …` or `import os; …` is a gadget, whatever its name.
 * `detections` are what analysePickle returned for `run` (its inline nested runs included).
 */
export function markPayloadArguments(run: PickleRun, detections: Detection[]): void {
  const payloads = new Map<string, PayloadEvidence>();
  collect(run, payloads);
  if (payloads.size === 0) return;
  for (const [i, d] of detections.entries()) {
    const callable = typeof d.evidence.callable === 'string' ? d.evidence.callable : undefined;
    const payload = callable === undefined ? undefined : payloads.get(callable);
    if (!payload || d.evidence.payload || d.evidence.invoked === false) continue;
    const what = payload.kind === 'shell' ? 'a shell command line' : 'Python source';
    detections[i] = { ...d, message: `${d.message}; its argument ${JSON.stringify(payload.text)} is ${what} (${payload.why})`, evidence: { ...d.evidence, payload } };
  }
}

function collect(run: PickleRun, out: Map<string, PayloadEvidence>): void {
  const protocolAt = new Map(run.imports.map((imp) => [imp.offset, imp.protocol]));
  for (const c of run.calls) {
    if (c.fn.t !== 'global' || !CALLING.has(c.how)) continue;
    const r = mapPython2Name(c.fn.module, c.fn.name, protocolAt.get(c.fn.offset) ?? run.protocol);
    const full = `${r.module}.${r.name}`;
    if (out.has(full)) continue;
    const found = payloadIn(c.args, 0);
    if (found) out.set(full, found);
  }
  for (const inner of run.nested) collect(inner, out);
}

/** The first constant string (or argv-like list of strings) in an argument value that is executable text. */
function payloadIn(v: Value, depth: number): PayloadEvidence | undefined {
  if (depth > 3) return undefined;
  switch (v.t) {
    case 'str':
      return v.big ? undefined : judge(v.v);
    case 'bytes':
      return v.len === v.v.length ? judge(v.v.toString('latin1')) : undefined;
    case 'tuple':
    case 'list': {
      // an argv list (["/bin/sh", "-c", …]) is a command line as a whole
      const words = v.items.map((i) => (i.t === 'str' ? i.v : undefined));
      const argv = depth > 0 && words.length > 1 && words.every((w) => w !== undefined) ? judge(words.map((w) => shellQuote(w)).join(' ')) : undefined;
      if (argv) return argv;
      for (const item of v.items) {
        const hit = payloadIn(item, depth + 1);
        if (hit) return hit;
      }
      return undefined;
    }
    case 'dict':
      for (const [, value] of v.entries) {
        const hit = payloadIn(value, depth + 1);
        if (hit) return hit;
      }
      return undefined;
    default:
      return undefined;
  }
}

function judge(text: string): PayloadEvidence | undefined {
  const hit = classifyPayload(text);
  return hit ? { ...hit, text: text.length > SHOWN ? `${text.slice(0, SHOWN)}…` : text } : undefined;
}

const shellQuote = (w: string) => (/^[A-Za-z0-9_./=:,+-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`);
