import { inflateSync, unzipSync } from 'node:zlib';
import type { Detection, Location } from '../../core/finding.js';
import type { Limits } from '../../formats/limits.js';
import { BufBytes, Cursor } from '../../formats/bytes.js';
import { runPickle, type CallRecord, type PickleRun } from './interpreter.js';
import type { GlobalsPolicy } from './policy.js';
import { render, strOf, type Value } from './values.js';

export interface PickleContext {
  file: string;
  /** Container path of the stream (zip member, nested payload), outermost first. */
  entry: string[];
  /** Offset of the stream's first byte within the container member/file, for regions. */
  base: number;
  policy: GlobalsPolicy;
  limits: Limits;
  depth: number;
}

const WRITE_MODE = /[wax+]/;
const FILE_OPENERS = new Set(['builtins.open', '__builtin__.open', 'io.open', '_io.open', 'io.FileIO', '_io.FileIO', 'codecs.open', 'pathlib.Path.open', 'pathlib.PosixPath.open']);
/** Callables that deserialize bytes handed to them: their constant argument is scanned as a pickle. */
const LOADERS = new Set(['pickle.loads', '_pickle.loads', 'cPickle.loads', 'dill.loads', 'dill._dill.loads', 'cloudpickle.loads', 'torch.load', 'joblib.load', 'numpy.loads']);

/**
 * Turns one interpreted pickle into detections: each import the policy does not allow (once per
 * callable, at its first offset, with whether and how it was invoked and its constant arguments),
 * imports with non-constant operands, malformation (the stream is kept up to the break: a payload
 * that runs and then crashes the load is still seen), limits, and payloads nested in bytes that
 * reach a loader, which are interpreted in turn.
 */
export function analysePickle(run: PickleRun, ctx: PickleContext): Detection[] {
  const out: Detection[] = [];
  const loc = (offset: number, length = 1): Location => ({ file: ctx.file, ...(ctx.entry.length ? { entry: ctx.entry } : {}), byteOffset: ctx.base + offset, byteLength: length });
  const calls = new Map<string, CallRecord[]>();
  for (const c of run.calls) {
    if (c.fn.t !== 'global') continue;
    const key = `${c.fn.module}.${c.fn.name}`;
    calls.set(key, [...(calls.get(key) ?? []), c]);
  }
  const seen = new Set<string>();
  for (const imp of run.imports) {
    const full = `${imp.module}.${imp.name}`;
    if (seen.has(full)) continue;
    seen.add(full);
    const verdict = ctx.policy.classify(imp.module, imp.name);
    if (verdict.kind === 'safe') continue;
    const invoked = calls.get(full) ?? [];
    const args = invoked.map((c) => render(c.args));
    let ruleId = verdict.kind === 'dangerous' ? verdict.rule : 'LT-PKL-008';
    let why = verdict.kind === 'dangerous' ? verdict.why : 'not on the allowlist; confirm dynamically';
    if (FILE_OPENERS.has(full) && invoked.some((c) => WRITE_MODE.test(modeOf(c.args) ?? ''))) {
      ruleId = 'LT-PKL-005';
      why = 'opens a file for writing';
    }
    const how = invoked.length ? `called via ${[...new Set(invoked.map((c) => c.how))].join('/')} with ${args.slice(0, 3).join(', ')}` : 'imported, not called';
    out.push({
      ruleId,
      source: 'static',
      phase: 'static',
      message: `${full} ${how} (${why})`,
      evidence: { callable: full, opcode: imp.opcode, invoked: invoked.length > 0, calls: invoked.length, args: args.slice(0, 5), reason: why },
      location: loc(imp.offset),
    });
  }
  out.push(...attributeCalls(run, ctx, loc, seen));
  for (const d of run.dynamicImports) {
    out.push({ ruleId: 'LT-PKL-006', source: 'static', phase: 'static', message: `import with operands the pickle computes: ${d.what}`, evidence: { what: d.what }, location: loc(d.offset) });
  }
  if (run.error) {
    const limit = run.error.limit === true;
    out.push({
      ruleId: limit ? 'LT-LIM-001' : 'LT-PKL-009',
      source: 'static',
      phase: 'static',
      message: `${limit ? 'analysis limit reached' : 'malformed pickle'} at offset ${ctx.base + run.error.offset}: ${run.error.message}; everything before it was analysed`,
      evidence: { error: run.error.message, importsBefore: run.imports.length },
      location: loc(run.error.offset),
    });
  }
  for (const inner of run.nested) out.push(...analysePickle(inner, ctx));
  out.push(...nestedPayloads(run, ctx));
  return out;
}

/**
 * getattr(obj, 'name') with a constant name on an object the pickle built from a known class is a
 * method of that class: getattr(pathlib.Path(p), 'write_text') is pathlib.Path.write_text. Resolve
 * it and classify it like an import, so an attribute chain cannot hide a dangerous method.
 */
function attributeCalls(run: PickleRun, ctx: PickleContext, loc: (o: number) => Location, seen: Set<string>): Detection[] {
  const out: Detection[] = [];
  for (const c of run.calls) {
    if (c.fn.t !== 'global' || c.fn.name !== 'getattr' || !['builtins', '__builtin__'].includes(c.fn.module) || c.args.t !== 'tuple') continue;
    const [target, attr] = c.args.items;
    const name = strOf(attr);
    const owner = target?.t === 'call' && target.fn.t === 'global' ? target.fn : target?.t === 'global' ? target : undefined;
    if (!owner || name === undefined) continue;
    const full = `${owner.module}.${owner.name}.${name}`;
    if (seen.has(full)) continue;
    seen.add(full);
    const verdict = ctx.policy.classify(owner.module, `${owner.name}.${name}`);
    if (verdict.kind !== 'dangerous') continue;
    out.push({
      ruleId: verdict.rule,
      source: 'static',
      phase: 'static',
      message: `${full} reached through getattr (${verdict.why})`,
      evidence: { callable: full, via: 'getattr', reason: verdict.why },
      location: loc(c.offset),
    });
  }
  return out;
}

/** Bytes that reach pickle.loads & co. (possibly through zlib/base64) are pickles too: interpret them. */
function nestedPayloads(run: PickleRun, ctx: PickleContext): Detection[] {
  const out: Detection[] = [];
  for (const c of run.calls) {
    if (c.fn.t !== 'global' || !LOADERS.has(`${c.fn.module}.${c.fn.name}`)) continue;
    const arg = c.args.t === 'tuple' ? c.args.items[0] : undefined;
    const data = constBytes(arg, ctx.limits);
    if (!data || data.length === 0) continue;
    if (ctx.depth + 1 > ctx.limits.maxNestingDepth) {
      out.push({ ruleId: 'LT-LIM-001', source: 'static', phase: 'static', message: 'nested pickles deeper than the nesting limit', evidence: {}, location: { file: ctx.file, byteOffset: ctx.base + c.offset } });
      continue;
    }
    const inner = runPickle(new Cursor(new BufBytes(data)), ctx.limits, ctx.depth + 1);
    out.push(...analysePickle(inner, { ...ctx, entry: [...ctx.entry, `nested@${ctx.base + c.offset}`], base: 0, depth: ctx.depth + 1 }));
  }
  return out;
}

/** The constant bytes a value evaluates to, following zlib/gzip decompression and base64 decoding. */
function constBytes(v: Value | undefined, limits: Limits): Buffer | undefined {
  if (!v) return undefined;
  if (v.t === 'bytes') return v.v.length === v.len ? v.v : undefined;
  if (v.t === 'str') return Buffer.from(v.v, 'latin1');
  if (v.t !== 'call' || v.fn.t !== 'global') return undefined;
  const fn = `${v.fn.module}.${v.fn.name}`;
  const inner = constBytes(v.args.t === 'tuple' ? v.args.items[0] : undefined, limits);
  if (!inner) return undefined;
  try {
    const max = { maxOutputLength: limits.maxInlineBytes };
    if (fn === 'zlib.decompress') return inflateSync(inner, max);
    if (fn === 'gzip.decompress') return unzipSync(inner, max);
    if (fn === 'base64.b64decode' || fn === 'binascii.a2b_base64') return Buffer.from(inner.toString('latin1'), 'base64');
    if (fn === '_codecs.encode' || fn === 'codecs.encode') return inner;
  } catch {
    return undefined;
  }
  return undefined;
}

function modeOf(args: Value): string | undefined {
  if (args.t !== 'tuple') return undefined;
  return strOf(args.items[1]);
}
