import { BufBytes, Cursor, type Bytes } from '../../formats/bytes.js';
import type { Limits } from '../../formats/limits.js';
import { inlineArray as joblibInlineArray } from '../../formats/joblib.js';
import { decodeAscii, decodeUtf8, parseFloat0, parseInt0, parseLong, parseMemoKey, parseQuoted, parseRawUnicode } from './literals.js';
import { encodedStages, type Stage } from './encoded.js';
import { assertNever } from '../../core/errors.js';
import { HIGHEST_PROTOCOL, OPCODE_BY_BYTE } from '../../formats/pickle-opcodes.js';
import { render, strOf, type Value } from './values.js';

export interface ImportRecord {
  module: string;
  name: string;
  /** Byte offset of the GLOBAL / INST / STACK_GLOBAL opcode in the stream. */
  offset: number;
  opcode: string;
  /** The protocol in force when it was read (the last PROTO before it, else 0): find_class maps Python 2 names below 3. */
  protocol: number;
}

export interface CallRecord {
  fn: Value;
  args: Value;
  how: 'REDUCE' | 'INST' | 'OBJ' | 'NEWOBJ' | 'NEWOBJ_EX' | 'BUILD';
  offset: number;
}

export interface PickleRun {
  start: number;
  /** Offset just past STOP (or where parsing ended). */
  end: number;
  protocol: number;
  stopped: boolean;
  imports: ImportRecord[];
  calls: CallRecord[];
  /** Operands that import something the interpreter cannot resolve to constant strings. */
  dynamicImports: { offset: number; what: string }[];
  /**
   * Set when parsing ended early: what was wrong and where (the opcode's offset). Everything before
   * it is kept. Without `limit` the C unpickler rejects the stream there too. With `limit` the
   * analysis stopped where the loader goes on (`stop`: a bound of this analysis, or an outcome that
   * depends on what an imported object is): what follows was not analysed, so it must block.
   */
  error?: { offset: number; message: string; limit?: boolean; stop?: 'limit' | 'model' | 'frame' };
  /** Pickles found nested inline (joblib object arrays) run by the same interpreter. */
  nested: PickleRun[];
  /**
   * Constants whose first bytes are a pickle, or decode to one through `stages` (hex, base64,
   * compression): `at` is the constant's bytes in place, `offset` the opcode that pushed it. The
   * first MAX_EMBEDDED are kept; analyse.ts decodes and runs them as nested pickles.
   */
  embedded: { offset: number; at: Bytes; stages: Stage[] }[];
  /** Set when more constants than MAX_EMBEDDED looked like encoded pickles (the rest were not analysed). */
  embeddedDropped?: number;
  /** Every find_class / persistent_load and every operation on an object they made, in the order the loader does them. */
  trace?: TraceEvent[];
  /** Set when the trace holds only its first million events (the rest were counted, not kept). */
  traceTruncated?: boolean;
}

/** One event of the load as the C unpickler would make it, in stream order (see PickleRun.trace). */
export type TraceEvent =
  | { op: 'find_class'; module: string; name: string; offset: number }
  | { op: 'persistent_load'; offset: number }
  /** An operation on an object the loader made (an imported global, what calling one returned, a persistent object); `root` is the index of the event that made it. */
  /** `n`: how many arguments a call passes (keyword arguments included), how many items an extend appends. */
  | { op: 'call' | 'setstate' | 'extend' | 'setitem' | 'add'; root: number; offset: number; n?: number };

/**
 * Why a run ended early. `malformed`: CPython's C unpickler rejects the stream at this point too
 * (the load fails there). `limit`: a bound of this analysis. `model`: the outcome depends on what
 * an imported object really is (a class where a type is required, a tuple where arguments are
 * required, an extension code from copyreg's registry): the loader may go on. `frame`: loaders
 * that read a file and loaders that read bytes disagree on what follows. The last three stop
 * the analysis where the loader would continue, so they must block (PickleRun.error.limit).
 */
type StopKind = 'malformed' | 'limit' | 'model' | 'frame';

/** Thrown to end a run; not an Error, so no stack is captured (hostile streams end runs by the thousand). */
class Stop {
  constructor(
    readonly message: string,
    readonly kind: StopKind = 'malformed',
  ) {}
}

const LONG_MIN = -(2n ** 63n);
const MAX_TRACE = 1_000_000;
const MAX_EMBEDDED = 10_000;
/** Errors that mean the input ended (a prefix of a stream can end anywhere), not that it is malformed. */
const END_OF_DATA = /truncated|ran out of input|runs past the end$/;
const SSIZE_MAX = 2n ** 63n - 1n;

/** Objects the loader made: the interpreter stands them in for anything (an imported class, an instance). */
const isStub = (v: Value): v is Extract<Value, { t: 'global' | 'call' | 'persid' | 'unknown' }> => v.t === 'global' || v.t === 'call' || v.t === 'persid' || v.t === 'unknown';
type Seq = Extract<Value, { items: Value[] }>;
const isList = (v: Value): v is Seq => v.t === 'list';
const isTuple = (v: Value): v is Seq => v.t === 'tuple';
const sizeOf = (v: { items: Value[]; dropped: number }) => v.items.length + v.dropped;
/** What hash() would accept: lists, dicts, sets and bytearrays raise, and tuples holding one. */
function hashable(v: Value): boolean {
  if (v.t === 'list' || v.t === 'dict') return false;
  if (v.t === 'set') return v.frozen === true;
  if (v.t === 'tuple') return v.unhashable !== true;
  if (v.t === 'bytes') return v.kind !== 'bytearray';
  return true;
}
/** An int as operator.index sees it (bool is an int); undefined for other constants. */
const indexOf = (v: Value): bigint | undefined => (v.t === 'num' ? BigInt(v.v) : v.t === 'bool' ? (v.v ? 1n : 0n) : undefined);

/**
 * Runs one pickle symbolically from the cursor's position to its STOP, never calling anything, with
 * the grammar and stack discipline of CPython 3.11's C unpickler (Modules/_pickle.c): the same
 * streams are accepted and rejected, and the same find_class / call events happen in the same
 * order, when every imported global is an object that accepts any operation (the most permissive
 * loader: test/integrity/pickle-differential.test.ts checks this against the real one). Imports
 * (GLOBAL, INST, STACK_GLOBAL) and invocations (REDUCE, INST, OBJ, NEWOBJ, NEWOBJ_EX, BUILD) are
 * recorded with their byte offsets. A run that ends early sets `error` and keeps everything
 * recorded before it; `error.limit` marks a stop where the loader would go on (it must block).
 */
export function runPickle(cur: Cursor, limits: Limits, depth = 0): PickleRun {
  const run: PickleRun = { start: cur.pos, end: cur.pos, protocol: 0, stopped: false, imports: [], calls: [], dynamicImports: [], nested: [], embedded: [], trace: [] };
  const trace = run.trace!;
  // The C unpickler's two stacks: values, and marks as indices into them; the fence is the last mark.
  const stack: Value[] = [];
  const marks: number[] = [];
  // Keys are numbers (bigint only past 2^53, where PUT's decimal keys may go): bigint keys hash slowly.
  const memo = new Map<number | bigint, Value>();
  // Objects whose __setstate__ a BUILD replaced, keyed by identity (memo GETs return the same value).
  const planted = new Map<Value, Value>();
  let offset = cur.pos;

  const bad = (message: string): never => {
    throw new Stop(message);
  };
  const undecided = (message: string): never => {
    throw new Stop(`${message}; the loader may go on`, 'model');
  };
  const fence = () => (marks.length ? marks[marks.length - 1]! : 0);
  const underflow = (): never => bad(marks.length ? 'unexpected MARK found' : 'unpickling stack underflow');
  const push = (v: Value) => {
    if (stack.length >= limits.maxPickleStack) throw new Stop(`stack deeper than ${limits.maxPickleStack}`, 'limit');
    stack.push(v);
  };
  const pop = (): Value => (stack.length <= fence() ? underflow() : stack.pop()!);
  const top = (): Value => (stack.length <= fence() ? underflow() : stack[stack.length - 1]!);
  const marker = (): number => {
    const m = marks.pop();
    return m === undefined ? bad('could not find MARK') : m;
  };
  const rootOf = (v: Value): number => (v.t === 'global' || v.t === 'call' || v.t === 'persid' ? (v.root ?? -1) : -1);
  /** Records a trace event (the first MAX_TRACE of them: a hostile stream makes one per two bytes) and returns its index. */
  let traced = 0;
  const note = (e: TraceEvent): number => {
    if (trace.length < MAX_TRACE) trace.push(e);
    else run.traceTruncated = true;
    return traced++;
  };
  const event = (op: 'call' | 'setstate' | 'extend' | 'setitem' | 'add', target: Value, n?: number) => note({ op, root: rootOf(target), offset, ...(n === undefined ? {} : { n }) });
  const seq = (t: 'tuple' | 'list' | 'set', all: Value[], frozen = false): Value => {
    const v: Value = { t, items: all.slice(0, limits.maxContainerItems), dropped: Math.max(0, all.length - limits.maxContainerItems) };
    if (t === 'tuple' && !all.every(hashable)) v.unhashable = true;
    if (frozen) v.frozen = true;
    return v;
  };
  const addItems = (target: Seq, items: Value[]) => {
    const room = Math.max(0, limits.maxContainerItems - target.items.length);
    target.items.push(...items.slice(0, room));
    target.dropped += Math.max(0, items.length - room);
  };
  const dictSet = (d: Extract<Value, { t: 'dict' }>, k: Value, v: Value) => {
    if (!hashable(k)) bad('unhashable dict key');
    if (k.t !== 'str') {
      if (isStub(k)) d.stubKeys = (d.stubKeys ?? 0) + 1;
      else d.nonStrKeys = (d.nonStrKeys ?? 0) + 1;
    }
    // keys too long to have been kept are never taken for one another
    const same = k.t === 'str' && !k.big ? d.entries.find(([key]) => key.t === 'str' && !key.big && key.v === k.v) : undefined;
    if (same) same[1] = v;
    else if (d.entries.length < limits.maxContainerItems) d.entries.push([k, v]);
    else d.dropped++;
  };
  /** A byte value for a bytearray: an int in 0..255; a loader-made object might have __index__. */
  const byteValue = (v: Value) => {
    if (isStub(v)) undecided('a bytearray item made by the loader');
    const n = indexOf(v);
    if (n === undefined || n < 0n || n > 255n) bad('bytearray item is not a byte');
  };
  /** A sequence index in range for a sequence of `size` items (negative counts from the end). */
  const index = (k: Value, size: number): number => {
    if (isStub(k)) undecided('an index made by the loader');
    const n = indexOf(k);
    if (n === undefined) return bad('sequence index is not an integer');
    const i = n < 0n ? n + BigInt(size) : n;
    if (i < 0n || i >= BigInt(size)) bad('sequence index out of range');
    return Number(i);
  };
  const memoKey = (i: number | bigint) => (typeof i === 'bigint' && i <= MAX_SAFE ? Number(i) : i);
  const memoPut = (key: number | bigint, v: Value) => {
    const i = memoKey(key);
    if (memo.size >= limits.maxPickleMemo && !memo.has(i)) throw new Stop(`memo larger than ${limits.maxPickleMemo}`, 'limit');
    memo.set(i, v);
  };
  const memoGet = (i: number | bigint): Value => memo.get(memoKey(i)) ?? bad(`memo value not found at index ${i}`);
  /**
   * A file-reading Unpickler holds a FRAME's bytes as its buffer: a read that runs past the frame's
   * end drops the rest of the frame and reads on from the file after it, while pickle.loads reads on
   * from the same bytes. The two then see different streams (the pickler never writes such a read),
   * so the analysis stops there. Payloads of BINBYTES/BYTEARRAY8 are copied across without loss.
   */
  let frameEnd = -1;
  const crossing = (end: number, start = cur.pos) => {
    if (start < frameEnd && end > frameEnd) throw new Stop('an operand runs past the end of its FRAME: loaders reading a file and loaders reading bytes see different streams', 'frame');
  };
  const need = (n: number): Buffer => {
    crossing(cur.pos + n);
    return cur.take(n) ?? bad('pickle data was truncated');
  };
  /** A '\n'-terminated operand, without the '\n'. No newline before the end: the loader fails too. */
  const line = (): Buffer => {
    const start = cur.pos;
    const b = cur.line(limits.maxLineBytes);
    if (!b) {
      if (cur.remaining === 0) return bad('pickle data was truncated (no newline)');
      throw new Stop(`text operand longer than ${limits.maxLineBytes} bytes`, 'limit');
    }
    crossing(cur.pos, start);
    return b;
  };
  /**
   * A constant that may be a pickle hidden in plain sight (raw, hex, base64, compressed): its
   * prefix is classified here, in stream order, and the constant is kept only as a view in place.
   * The decoded prefix is run first: one that the unpickler rejects before the prefix ends (or at
   * its end, when it is the whole content), having imported nothing, does nothing when loaded
   * (numeric data and words often start like a pickle or read as base64), so only the rest are
   * kept for analyse.ts to decode whole.
   */
  const embedded = (head: Buffer, at: Bytes) => {
    const found = encodedStages(head, head.length === at.size);
    if (!found) return;
    if (found.prefix && depth + 1 <= limits.maxNestingDepth) {
      const trial = runPickle(new Cursor(new BufBytes(found.prefix)), limits, depth + 1);
      const cutShort = !found.complete && trial.error !== undefined && END_OF_DATA.test(trial.error.message);
      if (trial.error && !trial.error.limit && !cutShort && trial.imports.length === 0) return;
    }
    if (run.embedded.length < MAX_EMBEDDED) run.embedded.push({ offset, at, stages: found.stages });
    else run.embeddedDropped = (run.embeddedDropped ?? 0) + 1;
  };
  /**
   * A length-prefixed operand; `as` says what the loader makes of its bytes (undefined: it fails).
   * The operand is never copied whole: the value keeps its first maxInlineBytes and a view of the
   * rest where it lies, so a 1 GB BINBYTES costs what reading past it costs.
   */
  const counted = (len: bigint, as: 'bytes' | 'bytearray' | 'latin1' | 'utf8'): Value => {
    if (len > SSIZE_MAX) bad('operand length exceeds the maximum size');
    if (len > BigInt(cur.remaining)) bad('pickle data was truncated');
    const n = Number(len);
    const lossless = as === 'bytes' || as === 'bytearray';
    if (!lossless) crossing(cur.pos + n);
    const big = n > limits.maxInlineBytes;
    // small: read through the cursor's window and copied (the value outlives the window), the copy
    // is the whole operand; large: a view in place, and one read of its prefix
    const view = big ? cur.view(n)! : undefined;
    const head = view ? view.read(0, limits.maxInlineBytes) : Buffer.from(cur.take(n)!);
    const at = view ?? new BufBytes(head);
    let value: Value;
    if (as === 'latin1' || as === 'utf8') {
      if (big) value = { t: 'str', v: '', big: true, at, ...(as === 'latin1' ? { py2: true as const } : {}) };
      else if (as === 'latin1') value = { t: 'str', v: head.toString('latin1'), py2: true };
      else value = { t: 'str', v: decodeUtf8(head, true) ?? bad('operand is not UTF-8') };
    } else value = as === 'bytearray' ? { t: 'bytes', v: head, len: n, at, kind: 'bytearray' } : { t: 'bytes', v: head, len: n, at };
    // only a constant the loader accepts can be handed on
    embedded(head, at);
    return value;
  };
  const u64 = (): bigint => need(8).readBigUInt64LE(0);
  const imported = (module: string, name: string, opcode: string): Extract<Value, { t: 'global' }> => {
    run.imports.push({ module, name, offset, opcode, protocol: run.protocol });
    return { t: 'global', module, name, offset, root: note({ op: 'find_class', module, name, offset }) };
  };
  const called = (fn: Value, args: Value, how: Extract<Value, { t: 'call' }>['how'], n: number): Value => {
    run.calls.push({ fn, args, how, offset });
    event('call', fn, n);
    return { t: 'call', fn, args, offset, how, root: rootOf(fn) };
  };
  /** INST and OBJ: cls(*args), or cls.__new__(cls) for a class without arguments; only loader-made objects are callable. */
  const instantiate = (cls: Value, args: Value[], how: 'INST' | 'OBJ'): Value => (isStub(cls) ? called(cls, seq('tuple', args), how, args.length) : bad('object is not callable'));
  /** APPEND/APPENDS onto stack[x-1]: list.extend, bytearray.extend, or the object's own extend(). */
  const doAppend = (x: number) => {
    const len = stack.length;
    if (x > len || x <= fence()) underflow();
    if (len === x) return;
    const target = stack[x - 1]!;
    const items = stack.splice(x);
    if (isList(target)) addItems(target, items);
    else if (target.t === 'bytes' && target.kind === 'bytearray') {
      items.forEach(byteValue);
      target.len += items.length;
    } else if (isStub(target)) event('extend', target, items.length);
    else bad('object has no append or extend');
  };
  /** SETITEM/SETITEMS onto stack[x-1]: obj[k] = v for each pair, in order, stopping at the first failure. */
  const doSetItems = (x: number) => {
    const len = stack.length;
    if (x > len || x <= fence()) underflow();
    if (len === x) return;
    if ((len - x) % 2 !== 0) bad('odd number of items for SETITEMS');
    const target = stack[x - 1]!;
    const kv = stack.splice(x);
    for (let i = 0; i < kv.length; i += 2) {
      const k = kv[i]!;
      const v = kv[i + 1]!;
      if (target.t === 'dict') dictSet(target, k, v);
      else if (isStub(target)) event('setitem', target);
      else if (isList(target)) {
        const at = index(k, sizeOf(target));
        if (at < target.items.length) target.items[at] = v;
      } else if (target.t === 'bytes' && target.kind === 'bytearray') {
        index(k, target.len);
        byteValue(v);
      } else bad('object does not support item assignment');
    }
  };
  /** BUILD on a constant: no __setstate__ and no __dict__, so only a None state (and an empty slot-state dict) is accepted. */
  const buildConstant = (state: Value) => {
    if (isStub(state)) undecided('BUILD state made by the loader');
    const pair = isTuple(state) && sizeOf(state) === 2 && state.items.length === 2;
    const s = pair ? state.items[0]! : state;
    const slots = pair ? state.items[1]! : undefined;
    if (s.t !== 'none' && !isStub(s)) bad('BUILD state on an object without __dict__');
    if (slots && !isStub(slots) && (slots.t !== 'dict' || slots.entries.length + slots.dropped > 0)) bad('BUILD slot state on an object without attributes');
    if (isStub(s) || (slots && isStub(slots))) undecided('BUILD state made by the loader');
  };

  try {
    for (;;) {
      offset = cur.pos;
      const code = cur.byte();
      if (code === -1) bad('ran out of input before STOP');
      const op = OPCODE_BY_BYTE[code];
      if (!op) bad(`invalid load key 0x${code.toString(16).padStart(2, '0')}`);
      switch (op!.name) {
        case 'PROTO': {
          const p = need(1)[0]!;
          if (p > HIGHEST_PROTOCOL) bad(`unsupported pickle protocol: ${p}`);
          run.protocol = p;
          break;
        }
        case 'FRAME': {
          // The C unpickler only checks that the frame's bytes are there, then reads on opcode by opcode.
          const n = u64();
          if (n > SSIZE_MAX) bad('FRAME length exceeds the maximum size');
          if (n > BigInt(cur.remaining)) bad('pickle data was truncated (frame)');
          crossing(cur.pos + Number(n));
          if (cur.pos >= frameEnd) frameEnd = cur.pos + Number(n);
          break;
        }
        case 'STOP':
          top();
          run.stopped = true;
          run.end = cur.pos;
          return run;
        case 'MARK':
          if (marks.length >= limits.maxPickleStack) throw new Stop(`more than ${limits.maxPickleStack} marks`, 'limit');
          marks.push(stack.length);
          break;
        case 'POP':
          if (marks.length > 0 && marks[marks.length - 1] === stack.length) marks.pop();
          else pop();
          break;
        case 'POP_MARK':
          stack.length = marker();
          break;
        case 'DUP':
          push(top());
          break;
        case 'NONE':
          push({ t: 'none' });
          break;
        case 'NEWTRUE':
        case 'NEWFALSE':
          push({ t: 'bool', v: op!.name === 'NEWTRUE' });
          break;
        case 'INT': {
          const v = parseInt0(line()) ?? bad('could not convert string to int');
          push(typeof v === 'boolean' ? { t: 'bool', v } : num(v));
          break;
        }
        case 'LONG':
          push(num(parseLong(line()) ?? bad('could not convert string to int')));
          break;
        case 'BININT':
          push({ t: 'num', v: need(4).readInt32LE(0) });
          break;
        case 'BININT1':
          push({ t: 'num', v: need(1)[0]! });
          break;
        case 'BININT2':
          push({ t: 'num', v: need(2).readUInt16LE(0) });
          break;
        case 'LONG1':
        case 'LONG4': {
          const n = op!.name === 'LONG1' ? need(1)[0]! : need(4).readInt32LE(0);
          if (n < 0) bad('LONG pickle has negative byte count');
          if (n > cur.remaining) bad('pickle data was truncated');
          // Longer than any index or byte value: only its size matters to the loader.
          push(num(n <= 1024 ? signedLE(need(n)) : (cur.skip(n), 2n ** 8200n)));
          break;
        }
        case 'FLOAT':
          push({ t: 'float', v: parseFloat0(line()) ?? bad('could not convert string to float') });
          break;
        case 'BINFLOAT':
          push({ t: 'float', v: need(8).readDoubleBE(0) });
          break;
        case 'STRING': {
          // Python 2 str: decoded with the Unpickler's encoding; latin-1 (the most permissive) keeps every byte.
          const b = parseQuoted(line()) ?? bad('the STRING opcode argument must be quoted, with valid escapes');
          embedded(b, new BufBytes(b));
          push({ t: 'str', v: b.toString('latin1'), py2: true });
          break;
        }
        case 'BINSTRING':
          push(counted(BigInt(need(4).readUInt32LE(0)), 'latin1'));
          break;
        case 'SHORT_BINSTRING':
          push(counted(BigInt(need(1)[0]!), 'latin1'));
          break;
        case 'UNICODE': {
          const v = parseRawUnicode(line()) ?? bad('bad raw-unicode-escape operand');
          const b = Buffer.from(v, 'utf8');
          embedded(b, new BufBytes(b));
          push({ t: 'str', v });
          break;
        }
        case 'BINBYTES':
          push(counted(BigInt(need(4).readUInt32LE(0)), 'bytes'));
          break;
        case 'SHORT_BINBYTES':
          push(counted(BigInt(need(1)[0]!), 'bytes'));
          break;
        case 'BINBYTES8':
          push(counted(u64(), 'bytes'));
          break;
        case 'BYTEARRAY8':
          push(counted(u64(), 'bytearray'));
          break;
        case 'SHORT_BINUNICODE':
          push(counted(BigInt(need(1)[0]!), 'utf8'));
          break;
        case 'BINUNICODE':
          push(counted(BigInt(need(4).readUInt32LE(0)), 'utf8'));
          break;
        case 'BINUNICODE8':
          push(counted(u64(), 'utf8'));
          break;
        case 'NEXT_BUFFER':
          // Model loaders (torch, numpy, joblib) pass no out-of-band buffers and fail here; one that did would go on.
          throw new Stop('NEXT_BUFFER takes an out-of-band buffer the loader may have been given', 'model');
        case 'READONLY_BUFFER': {
          const v = top();
          if (v.t === 'bytes' && v.kind === 'bytearray') stack[stack.length - 1] = { ...v, kind: 'memoryview' };
          else if (v.t === 'bytes') break;
          else if (isStub(v)) undecided('a buffer made by the loader');
          // a Python 2 string is bytes to a loader with encoding='bytes' (numpy.load and torch.load accept it)
          else if (v.t === 'str' && v.py2) undecided('READONLY_BUFFER of a Python 2 string');
          else bad('READONLY_BUFFER on an object without the buffer protocol');
          break;
        }
        case 'EMPTY_LIST':
          push(seq('list', []));
          break;
        case 'EMPTY_TUPLE':
          push(seq('tuple', []));
          break;
        case 'EMPTY_DICT':
          push({ t: 'dict', entries: [], dropped: 0 });
          break;
        case 'EMPTY_SET':
          push(seq('set', []));
          break;
        case 'LIST':
          push(seq('list', stack.splice(marker())));
          break;
        case 'TUPLE':
          push(seq('tuple', stack.splice(marker())));
          break;
        case 'TUPLE1':
        case 'TUPLE2':
        case 'TUPLE3': {
          const start = stack.length - Number(op!.name.slice(5));
          if (start < 0 || start < fence()) underflow();
          push(seq('tuple', stack.splice(start)));
          break;
        }
        case 'FROZENSET': {
          const items = stack.splice(marker());
          if (!items.every(hashable)) bad('unhashable frozenset item');
          push(seq('set', items, true));
          break;
        }
        case 'DICT': {
          const i = marker();
          const kv = stack.splice(i);
          if (kv.length % 2 !== 0) bad('odd number of items for DICT');
          const d: Extract<Value, { t: 'dict' }> = { t: 'dict', entries: [], dropped: 0 };
          for (let k = 0; k < kv.length; k += 2) dictSet(d, kv[k]!, kv[k + 1]!);
          push(d);
          break;
        }
        case 'APPEND':
          if (stack.length - 1 <= fence()) underflow();
          doAppend(stack.length - 1);
          break;
        case 'APPENDS':
          doAppend(marker());
          break;
        case 'SETITEM':
          doSetItems(stack.length - 2);
          break;
        case 'SETITEMS':
          doSetItems(marker());
          break;
        case 'ADDITEMS': {
          const i = marker();
          if (i > stack.length || i <= fence()) underflow();
          const target = stack[i - 1]!;
          const items = stack.splice(i);
          if (items.length === 0) break;
          if (target.t === 'set') {
            if (!items.every(hashable)) bad('unhashable set item');
            addItems(target, items);
          } else if (isStub(target)) for (let k = 0; k < items.length; k++) event('add', target);
          else bad('object has no add');
          break;
        }
        case 'GET': {
          const k = parseMemoKey(line()) ?? bad('bad GET key');
          if (k > SSIZE_MAX || k < LONG_MIN) bad('GET key too large');
          push(memoGet(k));
          break;
        }
        case 'BINGET':
          push(memoGet(need(1)[0]!));
          break;
        case 'LONG_BINGET':
          push(memoGet(need(4).readUInt32LE(0)));
          break;
        case 'PUT': {
          const l = line();
          if (l.length === 0) bad('pickle data was truncated');
          const v = top();
          const k = parseMemoKey(l) ?? bad('bad PUT key');
          if (k < 0n || k > SSIZE_MAX) bad('negative or huge PUT key');
          memoPut(k, v);
          break;
        }
        case 'BINPUT': {
          const k = need(1)[0]!;
          memoPut(k, top());
          break;
        }
        case 'LONG_BINPUT': {
          const k = need(4).readUInt32LE(0);
          memoPut(k, top());
          break;
        }
        case 'MEMOIZE':
          memoPut(memo.size, top());
          break;
        case 'EXT1':
        case 'EXT2':
        case 'EXT4': {
          // The copyreg extension registry maps codes to globals at load time: not knowable here.
          const n = op!.name === 'EXT1' ? need(1)[0]! : op!.name === 'EXT2' ? need(2).readUInt16LE(0) : need(4).readInt32LE(0);
          if (n <= 0) bad('EXT specifies code <= 0');
          run.dynamicImports.push({ offset, what: `${op!.name} extension code ${n} (resolved by copyreg at load time)` });
          throw new Stop(`extension code ${n} names a global through copyreg's registry at load time`, 'model');
        }
        case 'GLOBAL': {
          const m = line();
          if (m.length === 0) bad('pickle data was truncated');
          const module = decodeUtf8(m, false) ?? bad('GLOBAL module is not UTF-8');
          const n = line();
          if (n.length === 0) bad('pickle data was truncated');
          const name = decodeUtf8(n, false) ?? bad('GLOBAL name is not UTF-8');
          push(imported(module, name, 'GLOBAL'));
          break;
        }
        case 'STACK_GLOBAL': {
          const nameV = pop();
          const moduleV = pop();
          const constant = (v: Value) => v.t === 'str' && v.big !== true;
          if (constant(moduleV) && constant(nameV)) {
            push(imported(strOf(moduleV)!, strOf(nameV)!, 'STACK_GLOBAL'));
            break;
          }
          if ((moduleV.t !== 'str' && !isStub(moduleV)) || (nameV.t !== 'str' && !isStub(nameV))) bad('STACK_GLOBAL requires str');
          run.dynamicImports.push({ offset, what: `STACK_GLOBAL of ${render(moduleV)}.${render(nameV)}` });
          throw new Stop('STACK_GLOBAL of names the loader computes', isStub(moduleV) || isStub(nameV) ? 'model' : 'limit');
        }
        case 'INST': {
          const i = marker();
          const m = line();
          if (m.length === 0) bad('pickle data was truncated');
          const module = decodeAscii(m) ?? bad('INST module is not ASCII');
          const n = line();
          if (n.length === 0) bad('pickle data was truncated');
          const name = decodeAscii(n) ?? bad('INST name is not ASCII');
          const cls = imported(module, name, 'INST');
          push(instantiate(cls, stack.splice(i), 'INST'));
          break;
        }
        case 'OBJ': {
          const i = marker();
          if (stack.length - i < 1) underflow();
          const args = stack.splice(i + 1);
          push(instantiate(pop(), args, 'OBJ'));
          break;
        }
        case 'REDUCE': {
          const args = pop();
          const fn = pop();
          if (!isStub(fn)) bad('REDUCE of an object that is not callable');
          if (!isTuple(args)) (isStub(args) ? undecided : bad)('REDUCE arguments are not a tuple');
          push(called(fn, args, 'REDUCE', isTuple(args) ? sizeOf(args) : 0));
          break;
        }
        case 'NEWOBJ':
        case 'NEWOBJ_EX': {
          const ex = op!.name === 'NEWOBJ_EX';
          const kwargs = ex ? pop() : undefined;
          const args = pop();
          const cls = pop();
          // Certain failures first (the loader raises whatever the objects are), then what depends on loader-made objects.
          if (!isStub(cls)) bad(`${op!.name} class argument is not a type`);
          if (!isTuple(args) && !isStub(args)) bad(`${op!.name} args argument is not a tuple`);
          if (kwargs && kwargs.t !== 'dict' && !isStub(kwargs)) bad('NEWOBJ_EX kwargs argument is not a dict');
          if (kwargs?.t === 'dict' && (kwargs.nonStrKeys ?? 0) > 0) bad('NEWOBJ_EX keywords must be strings');
          if (cls.t !== 'global') undecided(`${op!.name} of an object the loader made (a type?)`);
          if (!isTuple(args)) undecided(`${op!.name} arguments made by the loader`);
          if (kwargs && (kwargs.t !== 'dict' || (kwargs.stubKeys ?? 0) > 0)) undecided('NEWOBJ_EX keywords made by the loader');
          const n = (isTuple(args) ? sizeOf(args) : 0) + (kwargs?.t === 'dict' ? kwargs.entries.length + kwargs.dropped : 0);
          push(called(cls, kwargs ? seq('tuple', [args, kwargs]) : args, op!.name, n));
          break;
        }
        case 'BUILD': {
          if (stack.length - 2 < fence()) underflow();
          const state = pop();
          const obj = top();
          // BUILD calls obj.__setstate__(state) when the class defines it: an invocation too. A
          // state that sets the instance attribute __setstate__ plants a callable that the next
          // BUILD on the same object calls (a known bypass: no REDUCE on the dangerous callable).
          run.calls.push({ fn: planted.get(obj) ?? obj, args: state, how: 'BUILD', offset });
          if (isStub(obj)) event('setstate', obj);
          else buildConstant(state);
          const plant = plantedSetstate(state);
          if (plant) planted.set(obj, plant);
          inlineArray(obj, state);
          break;
        }
        case 'PERSID': {
          const id = decodeAscii(line()) ?? bad('persistent IDs in protocol 0 must be ASCII strings');
          push({ t: 'persid', id: { t: 'str', v: id }, root: note({ op: 'persistent_load', offset }) });
          break;
        }
        case 'BINPERSID': {
          const id = pop();
          push({ t: 'persid', id, root: note({ op: 'persistent_load', offset }) });
          break;
        }
        default:
          // Every name in the opcode table has a case: a new table entry without one fails to compile here.
          return assertNever(op!.name, 'pickle opcode');
      }
    }
  } catch (err) {
    if (!(err instanceof Stop)) throw err;
    const message = err.kind === 'malformed' ? err.message : `${err.message}: the analysis stopped here and what follows was not analysed`;
    run.error = { offset, message, ...(err.kind === 'malformed' ? {} : { limit: true, stop: err.kind }) };
    run.end = cur.pos;
    return run;
  }

  /** A joblib NumpyArrayWrapper's inline array (src/formats/joblib.ts): skip its raw bytes exactly; run a nested pickle. */
  function inlineArray(obj: Value, state: Value): void {
    if (obj.t !== 'call' || obj.fn.t !== 'global' || obj.fn.module !== 'joblib.numpy_pickle' || obj.fn.name !== 'NumpyArrayWrapper') return;
    if (state.t !== 'dict') throw new Stop('NumpyArrayWrapper state is not a dict', 'model');
    const get = (k: string) => state.entries.find(([key]) => strOf(key) === k)?.[1];
    const dtype = get('dtype');
    const code = dtype?.t === 'call' && dtype.args.t === 'tuple' ? strOf(dtype.args.items[0]) : undefined;
    if (code === undefined) throw new Stop('NumpyArrayWrapper without a readable dtype', 'model');
    const shape = get('shape');
    const dims = shape?.t === 'tuple' && !shape.dropped ? shape.items.map((d) => (d.t === 'num' ? Number(d.v) : -1)) : undefined;
    const array = joblibInlineArray(code, dims, get('numpy_array_alignment_bytes') !== undefined);
    if ('problem' in array) throw new Stop(array.problem, 'model');
    if (array.kind === 'pickle') {
      if (depth + 1 > limits.maxNestingDepth) throw new Stop('nested pickles too deep', 'limit');
      const inner = runPickle(cur, limits, depth + 1);
      run.nested.push(inner);
      if (inner.error) throw new Stop(`inline object array: ${inner.error.message}`, inner.error.stop ?? 'malformed');
      return;
    }
    if (array.aligned) {
      const pad = need(1)[0]!;
      need(pad);
    }
    if (array.bytes > BigInt(cur.remaining)) throw new Stop('array data runs past the end');
    cur.skip(Number(array.bytes));
  }
}

const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const num = (v: bigint): Value => ({ t: 'num', v: v >= MIN_SAFE && v <= MAX_SAFE ? Number(v) : v });

/** LONG1/LONG4 payload: little-endian two's complement. */
function signedLE(b: Buffer): bigint {
  if (b.length === 0) return 0n;
  const v = BigInt(`0x${Buffer.from(b).reverse().toString('hex')}`);
  return b[b.length - 1]! & 0x80 ? v - (1n << BigInt(8 * b.length)) : v;
}

/** The callable a BUILD state assigns to `__setstate__` (in the dict state or the slot-state dict of a (dict, slots) pair). */
function plantedSetstate(state: Value): Value | undefined {
  const dicts = state.t === 'dict' ? [state] : state.t === 'tuple' ? state.items.filter((v) => v.t === 'dict') : [];
  for (const d of dicts) {
    for (const [k, v] of d.entries) if (k.t === 'str' && k.v === '__setstate__') return v;
  }
  return undefined;
}
