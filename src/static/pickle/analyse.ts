import type { Detection, Location } from '../../core/finding.js';
import type { Limits } from '../../formats/limits.js';
import { BufBytes, Cursor, type Bytes } from '../../formats/bytes.js';
import { sniff } from '../../formats/sniff.js';
import { decodeStages, type Stage } from './encoded.js';
import { runPickle, type CallRecord, type PickleRun } from './interpreter.js';
import { mapPython2Name } from './compat.js';
import type { Deserialiser, GlobalsPolicy, Classification } from './policy.js';
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
  /**
   * Scans the bytes a deserialising callable is handed as a nested candidate (by content, like the
   * callable reads them) and returns what was found inside; scan.ts, which owns format dispatch,
   * supplies it. Without it, nested bytes are interpreted as one pickle.
   */
  nested?: (data: Bytes, entry: string[], how: Deserialiser, depth: number) => Detection[];
}

type Name = { module: string; name: string; full: string };

const WRITE_MODE = /[wax+]/;
const FILE_OPENERS = new Set(['builtins.open', 'io.open', '_io.open', 'io.FileIO', '_io.FileIO', 'codecs.open', 'pathlib.Path.open', 'pathlib.PosixPath.open']);
/** Opcodes that call the callable with arguments the pickle chose (NEWOBJ, which needs a type and only runs __new__, is reconstruction). */
const INVOKING = new Set<CallRecord['how']>(['REDUCE', 'INST', 'OBJ', 'NEWOBJ_EX']);
const UNKNOWN_INVOKED =
  'not on the allowlist and called with arguments the pickle chose: a payload that recognises the sandbox does nothing there, so no dynamic run can clear it; admit it with --allow-globals if it is legitimate';

/**
 * Turns one interpreted pickle into detections. Names are resolved as find_class resolves them
 * (Python 2 names mapped below protocol 3) and classified by the policy. Each import the policy
 * does not allow is reported once, at its first offset, with whether and how it was invoked and
 * its constant arguments: a dangerous one by its rule; an unknown one that is *called* (REDUCE,
 * INST, OBJ, NEWOBJ_EX, a planted __setstate__, a callable argument that a safe helper calls)
 * blocks (LT-PKL-013); an unknown one that is only reconstructed the standard way (NEWOBJ,
 * copyreg._reconstructor, __newobj__) or referenced is LT-PKL-008, which only a dynamic run whose
 * load completed can settle (src/vet/settle.ts). Calls of objects computed at load time block too.
 * Imports with non-constant operands, malformation (the stream is kept up to the break: a payload
 * that runs and then crashes the load is still seen) and limits are reported, and the constant
 * argument of every deserialising callable is scanned as a nested candidate.
 */
export function analysePickle(run: PickleRun, ctx: PickleContext): Detection[] {
  const out: Detection[] = [];
  const loc = (offset: number, length = 1): Location => ({ file: ctx.file, ...(ctx.entry.length ? { entry: ctx.entry } : {}), byteOffset: ctx.base + offset, byteLength: length });
  const resolved = new Map<number, Name>();
  for (const imp of run.imports) {
    const r = mapPython2Name(imp.module, imp.name, imp.protocol);
    resolved.set(imp.offset, { ...r, full: `${r.module}.${r.name}` });
  }
  const nameOf = (v: Value | undefined): Name | undefined => (v?.t === 'global' ? (resolved.get(v.offset) ?? { module: v.module, name: v.name, full: `${v.module}.${v.name}` }) : undefined);
  const verdicts = new Map<string, Classification>();
  const verdictOf = (n: Name): Classification => {
    let v = verdicts.get(n.full);
    if (!v) verdicts.set(n.full, (v = ctx.policy.classify(n.module, n.name)));
    return v;
  };

  // Every call of a global, and every global that ends up called: directly, through a planted
  // __setstate__ (BUILD), or as the argument a safe helper calls (copyreg._reconstructor's base).
  const calls = new Map<string, CallRecord[]>();
  const invoked = new Map<string, CallRecord[]>();
  // appended in place: a checkpoint calls one rebuild helper once per tensor (thousands of times)
  const add = (m: Map<string, CallRecord[]>, key: string, c: CallRecord) => {
    const list = m.get(key);
    if (list) list.push(c);
    else m.set(key, [c]);
  };
  for (const c of run.calls) {
    const fn = nameOf(c.fn);
    if (fn) {
      add(calls, fn.full, c);
      if (INVOKING.has(c.how) || c.how === 'BUILD') add(invoked, fn.full, c);
      for (const i of ctx.policy.invokedArguments(fn.module, fn.name)) {
        const arg = c.args.t === 'tuple' ? c.args.items[i] : undefined;
        const argName = nameOf(arg);
        if (argName) {
          if (verdictOf(argName).kind !== 'safe') add(invoked, argName.full, c);
          if (ctx.policy.deserialiser(argName.module, argName.name)) {
            out.push({
              ruleId: 'LT-PKL-014',
              source: 'static',
              phase: 'static',
              message: `${fn.full} calls the deserialiser ${argName.full} with arguments of its own choosing: what it loads cannot be analysed`,
              evidence: { callable: argName.full, via: fn.full },
              location: loc(c.offset),
            });
          }
        } else if (arg) {
          out.push(computedCall(c, `${fn.full} calls its argument ${i + 1}, ${render(arg)}, an object computed at load time`, loc));
        }
      }
    } else if ((INVOKING.has(c.how) || c.how === 'NEWOBJ') && (c.fn.t === 'call' || c.fn.t === 'persid')) {
      out.push(computedCall(c, `${c.how} calls ${render(c.fn)}, an object computed at load time`, loc));
    }
  }

  const seen = new Set<string>();
  for (const imp of run.imports) {
    const n = resolved.get(imp.offset)!;
    if (seen.has(n.full)) continue;
    seen.add(n.full);
    const verdict = verdictOf(n);
    if (verdict.kind === 'safe') continue;
    const all = calls.get(n.full) ?? [];
    const called = invoked.get(n.full) ?? [];
    const args = all.slice(0, 5).map((c) => render(c.args));
    const shown = n.full === `${imp.module}.${imp.name}` ? n.full : `${n.full} (written ${imp.module}.${imp.name})`;
    let ruleId: string;
    let why: string;
    if (verdict.kind === 'dangerous') {
      ruleId = verdict.rule;
      why = verdict.why;
      if (FILE_OPENERS.has(n.full) && all.some((c) => WRITE_MODE.test(modeOf(c.args) ?? ''))) {
        ruleId = 'LT-PKL-005';
        why = 'opens a file for writing';
      }
    } else if (called.length > 0) {
      ruleId = 'LT-PKL-013';
      why = UNKNOWN_INVOKED;
    } else {
      ruleId = 'LT-PKL-008';
      why = 'not on the allowlist, reconstructed as a class or only referenced: settled only by a sandboxed load that resolves it and completes';
    }
    const hows = [...new Set([...all, ...called].map((c) => c.how))];
    const how = all.length || called.length ? `${called.length ? 'called' : 'used'} via ${hows.join('/')} with ${args.slice(0, 3).join(', ') || 'its arguments'}` : 'imported, not called';
    out.push({
      ruleId,
      source: 'static',
      phase: 'static',
      message: `${shown} ${how} (${why})`,
      evidence: {
        callable: n.full,
        ...(shown !== n.full ? { written: `${imp.module}.${imp.name}`, protocol: imp.protocol } : {}),
        opcode: imp.opcode,
        invoked: called.length > 0,
        calls: all.length,
        args: args.slice(0, 5),
        reason: why,
        // the module Python's import machinery resolves for it: the kernel must see its file opened
        ...(ruleId === 'LT-PKL-008' ? { settle: 'load', module: imp.module } : {}),
      },
      location: loc(imp.offset),
    });
  }
  out.push(...attributeCalls(run, ctx, loc, seen, nameOf));
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
  const used = new Set<Bytes>();
  out.push(...nestedPayloads(run, ctx, nameOf, loc, used));
  out.push(...embeddedPickles(run, ctx, loc, used));
  return out;
}

function computedCall(c: CallRecord, message: string, loc: (o: number) => Location): Detection {
  return {
    ruleId: 'LT-PKL-013',
    source: 'static',
    phase: 'static',
    message: `${message} (${UNKNOWN_INVOKED})`,
    evidence: { how: c.how, callable: render(c.fn), args: [render(c.args)], invoked: true },
    location: loc(c.offset),
  };
}

/**
 * getattr(obj, 'name') with a constant name on an object the pickle built from a known class is a
 * method of that class: getattr(pathlib.Path(p), 'write_text') is pathlib.Path.write_text. Resolve
 * it and classify it like an import, so an attribute chain cannot hide a dangerous method.
 */
function attributeCalls(run: PickleRun, ctx: PickleContext, loc: (o: number) => Location, seen: Set<string>, nameOf: (v: Value | undefined) => Name | undefined): Detection[] {
  const out: Detection[] = [];
  for (const c of run.calls) {
    if (nameOf(c.fn)?.full !== 'builtins.getattr' || c.args.t !== 'tuple') continue;
    const [target, attr] = c.args.items;
    const name = strOf(attr);
    const owner = target?.t === 'call' ? nameOf(target.fn) : nameOf(target);
    if (!owner || name === undefined) continue;
    const full = `${owner.full}.${name}`;
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

/**
 * Every call of a deserialising callable (rules/pickle-globals.toml [deserialisers]: torch.load,
 * torch.storage._load_from_bytes, pickle.loads, …) loads its argument at load time: constant bytes
 * (possibly through zlib/base64) are scanned as a nested candidate, located inside this stream;
 * an argument the pickle computes, or one too large to keep, cannot be seen and blocks.
 */
function nestedPayloads(run: PickleRun, ctx: PickleContext, nameOf: (v: Value | undefined) => Name | undefined, loc: (o: number) => Location, used: Set<Bytes>): Detection[] {
  const out: Detection[] = [];
  for (const c of run.calls) {
    const fn = nameOf(c.fn);
    const how = fn && (INVOKING.has(c.how) || c.how === 'BUILD') ? ctx.policy.deserialiser(fn.module, fn.name) : undefined;
    if (!fn || !how) continue;
    const unseen = (why: string, ruleId = 'LT-PKL-014') =>
      out.push({
        ruleId,
        source: 'static',
        phase: 'static',
        message: `${fn.full} deserialises ${why}: what it loads cannot be analysed`,
        evidence: { callable: fn.full, args: [render(c.args)] },
        location: loc(c.offset),
      });
    // a planted __setstate__ (BUILD) is called with the state itself
    const arg = c.how === 'BUILD' ? c.args : c.args.t === 'tuple' ? c.args.items[0] : undefined;
    const data = constBytes(arg, ctx.limits, nameOf, used);
    if ('problem' in data) {
      unseen(data.problem, data.limit ? 'LT-LIM-001' : 'LT-PKL-014');
      continue;
    }
    if (data.bytes.size === 0) continue;
    if (ctx.depth + 1 > ctx.limits.maxNestingDepth) {
      unseen('bytes nested deeper than the nesting limit');
      continue;
    }
    const entry = [...ctx.entry, `nested@${ctx.base + c.offset}`];
    if (ctx.nested) out.push(...ctx.nested(data.bytes, entry, how, ctx.depth + 1));
    else {
      const inner = runPickle(new Cursor(data.bytes), ctx.limits, ctx.depth + 1);
      out.push(...analysePickle(inner, { ...ctx, entry, base: 0, depth: ctx.depth + 1 }));
    }
  }
  return out;
}

/**
 * Constants that are pickles, raw or encoded (hex, base64, compressed, in stages): whatever loads
 * them later (a deserialiser the pickle reaches some other way, the model's own code) runs what
 * they import, so each is decoded and analysed as a nested pickle, located at the opcode that
 * pushed it. A decoded constant only counts when it reads as a pickle (it imports something, reaches
 * STOP, or runs past a bound of the analysis): numeric data often begins with a byte that is also an
 * opcode, and words often read as base64. A constant recognised as encoded but too large to decode
 * within the bounds is a limit finding.
 */
function embeddedPickles(run: PickleRun, ctx: PickleContext, loc: (o: number, l?: number) => Location, used: Set<Bytes>): Detection[] {
  const out: Detection[] = [];
  const limit = (message: string, offset: number) => out.push({ ruleId: 'LT-LIM-001', source: 'static', phase: 'static', message, evidence: { error: message }, location: loc(offset) });
  if (run.embeddedDropped) limit(`${run.embeddedDropped} more constants than the analysis follows look like encoded pickles; they were not analysed`, run.end);
  for (const e of run.embedded) {
    if (used.has(e.at)) continue;
    const how = e.stages.length ? ` (${e.stages.join(' of ')})` : '';
    const decoded = decodeStages(e.at, e.stages, ctx.limits);
    if ('problem' in decoded) {
      // one that only looked encoded is data; one too big to decode may hold a pickle nobody saw
      if (decoded.limit) limit(`a constant of ${e.at.size} bytes whose beginning decodes${how} to a pickle could not be analysed: ${decoded.problem}`, e.offset);
      continue;
    }
    if (ctx.depth + 1 > ctx.limits.maxNestingDepth) {
      if (e.stages.length) limit(`a constant that decodes${how} to a pickle is nested deeper than the nesting limit; not analysed`, e.offset);
      continue;
    }
    const inner = runPickle(new Cursor(decoded.bytes), ctx.limits, ctx.depth + 1);
    // what the loader would do with it: import something, or get past a bound of this analysis
    if (inner.imports.length === 0 && !inner.stopped && inner.error?.stop !== 'limit') continue;
    const entry = [...ctx.entry, `constant@${ctx.base + e.offset}${e.stages.length ? `:${e.stages.join('+')}` : ''}`];
    out.push(...analysePickle(inner, { ...ctx, entry, base: 0, depth: ctx.depth + 1 }));
  }
  return out;
}

type Constant = { bytes: Bytes } | { problem: string; limit?: boolean };

/**
 * The constant bytes a value evaluates to, in place when it is a constant, following decoders the
 * analysis can compute (hex, base64, zlib, gzip, bz2, lzma, identity codecs) with their outputs
 * bounded; a problem when the value is computed at load time or decodes past the bounds. The
 * constants reached are added to `used` (they are analysed here, not again as embedded ones).
 */
function constBytes(v: Value | undefined, limits: Limits, nameOf: (v: Value | undefined) => Name | undefined, used: Set<Bytes>): Constant {
  if (!v) return { problem: 'no argument the analysis can see' };
  if (v.t === 'bytes') {
    used.add(v.at);
    return { bytes: v.at };
  }
  if (v.t === 'str') {
    if (v.at) used.add(v.at);
    return { bytes: v.at ?? new BufBytes(Buffer.from(v.v, v.py2 ? 'latin1' : 'utf8')) };
  }
  const fn = v.t === 'call' ? calleeName(v.fn, nameOf) : undefined;
  const stage = v.t === 'call' && fn ? decoderStage(fn, v.args) : undefined;
  if (v.t !== 'call' || stage === undefined) return { problem: `data computed at load time (${render(v)})` };
  const inner = constBytes(v.args.t === 'tuple' ? v.args.items[0] : undefined, limits, nameOf, used);
  if ('problem' in inner || stage === 'same') return inner;
  // lzma.decompress reads both of its container formats
  const actual: Stage = stage === 'lzma' ? (sniff(inner.bytes) === 'xz' ? 'xz' : 'lzma') : stage;
  const out = decodeStages(inner.bytes, [actual], limits);
  return 'problem' in out ? { problem: `bytes that ${fn} cannot decode here (${out.problem})`, limit: out.limit } : out;
}

/** The dotted name of a callable: an import, or getattr(import, 'name') with a constant name. */
function calleeName(fn: Value, nameOf: (v: Value | undefined) => Name | undefined): string | undefined {
  const direct = nameOf(fn)?.full;
  if (direct) return direct;
  if (fn.t !== 'call' || nameOf(fn.fn)?.full !== 'builtins.getattr' || fn.args.t !== 'tuple') return undefined;
  const owner = nameOf(fn.args.items[0])?.full;
  const attr = strOf(fn.args.items[1]);
  return owner && attr !== undefined ? `${owner}.${attr}` : undefined;
}

/** Pure decoders whose result the analysis can compute, by the stage each applies. */
const DECODERS: Record<string, Stage> = {
  'zlib.decompress': 'zlib',
  'gzip.decompress': 'gzip',
  'bz2.decompress': 'bz2',
  'lzma.decompress': 'lzma',
  'base64.b64decode': 'base64',
  'base64.urlsafe_b64decode': 'base64',
  'base64.standard_b64decode': 'base64',
  'base64.decodebytes': 'base64',
  'base64.decodestring': 'base64',
  'binascii.a2b_base64': 'base64',
  'base64.b16decode': 'hex',
  'binascii.unhexlify': 'hex',
  'binascii.a2b_hex': 'hex',
  'builtins.bytes.fromhex': 'hex',
  'builtins.bytearray.fromhex': 'hex',
};
/** codecs.decode names (normalised as the codec registry does) and the stage each applies; text codecs leave the bytes as they are. */
const CODECS: Record<string, Stage | 'same'> = {
  hex: 'hex',
  hex_codec: 'hex',
  base64: 'base64',
  base_64: 'base64',
  base64_codec: 'base64',
  zlib: 'zlib',
  zip: 'zlib',
  zlib_codec: 'zlib',
  bz2: 'bz2',
  bz2_codec: 'bz2',
  latin1: 'same',
  latin_1: 'same',
  iso8859_1: 'same',
  iso_8859_1: 'same',
  l1: 'same',
  ascii: 'same',
  utf8: 'same',
  utf_8: 'same',
};

/**
 * The stage a call applies to its first argument. codecs.encode with a text codec is how protocol-2
 * pickles write bytes (`_codecs.encode(str, 'latin1')`); with a binary codec it encodes, which
 * the analysis does not follow.
 */
function decoderStage(fn: string, args: Value): Stage | 'same' | undefined {
  if (DECODERS[fn]) return DECODERS[fn];
  const codecCall = /^_?codecs\.(en|de)code$/.exec(fn);
  if (!codecCall) return undefined;
  const given = args.t === 'tuple' && args.items.length > 1 ? strOf(args.items[1]) : 'utf-8';
  const codec = CODECS[(given ?? '').toLowerCase().replace(/[-\s]/g, '_')];
  if (codecCall[1] === 'en') return codec === 'same' ? 'same' : undefined;
  return codec;
}

function modeOf(args: Value): string | undefined {
  if (args.t !== 'tuple') return undefined;
  return strOf(args.items[1]);
}
