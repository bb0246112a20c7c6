import type { Cursor } from '../../formats/bytes.js';
import type { Limits } from '../../formats/limits.js';
import { OPCODE_BY_BYTE } from './opcodes.js';
import { MARK, render, strOf, type Slot, type Value } from './values.js';

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
  /** Set when parsing ended early: what was wrong and where. Everything before it is kept. */
  error?: { offset: number; message: string; limit?: boolean };
  /** Pickles found nested inline (joblib object arrays) run by the same interpreter. */
  nested: PickleRun[];
}

class Stop extends Error {
  constructor(
    message: string,
    readonly limit = false,
  ) {
    super(message);
  }
}

/**
 * Runs one pickle symbolically from the cursor's position to its STOP: every opcode of protocols
 * 0–5 is executed on a symbolic stack and memo, never calling anything. Imports (GLOBAL, INST,
 * STACK_GLOBAL with operands from any string opcode or the memo) and invocations (REDUCE, INST,
 * OBJ, NEWOBJ, NEWOBJ_EX, BUILD) are recorded with their byte offsets. A malformed or over-limit
 * stream ends the run with `error` set and keeps everything recorded before it.
 */
export function runPickle(cur: Cursor, limits: Limits, depth = 0): PickleRun {
  const run: PickleRun = { start: cur.pos, end: cur.pos, protocol: 0, stopped: false, imports: [], calls: [], dynamicImports: [], nested: [] };
  const stack: Slot[] = [];
  const marks: number[] = [];
  const memo = new Map<number, Value>();
  const unknown = (why: string): Value => ({ t: 'unknown', why });
  // Objects whose __setstate__ a BUILD replaced, keyed by identity (memo GETs return the same value).
  const planted = new WeakMap<Value, Value>();

  const push = (v: Slot) => {
    if (stack.length >= limits.maxPickleStack) throw new Stop(`stack deeper than ${limits.maxPickleStack}`, true);
    stack.push(v);
  };
  const pop = (): Value => {
    const v = stack.pop();
    if (v === undefined) throw new Stop('stack underflow');
    if (v === MARK) throw new Stop('unexpected MARK on the stack');
    if (marks.length > 0 && stack.length < marks[marks.length - 1]!) throw new Stop('pop below the current mark');
    return v;
  };
  const top = (): Value => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) throw new Stop('stack underflow');
    return v;
  };
  const popMark = (): Value[] => {
    const m = marks.pop();
    if (m === undefined) throw new Stop('no MARK to pop to');
    const items = stack.splice(m);
    if (items[0] !== MARK) throw new Stop('corrupt mark');
    return items.slice(1).filter((x): x is Value => x !== MARK);
  };
  const seq = (t: 'tuple' | 'list' | 'set', all: Value[]): Value => ({ t, items: all.slice(0, limits.maxContainerItems), dropped: Math.max(0, all.length - limits.maxContainerItems) });
  const addItems = (target: Value, items: Value[]) => {
    if (target.t === 'list' || target.t === 'set' || target.t === 'tuple') {
      const room = limits.maxContainerItems - target.items.length;
      target.items.push(...items.slice(0, Math.max(0, room)));
      target.dropped += Math.max(0, items.length - Math.max(0, room));
    }
  };
  const setItems = (target: Value, kv: Value[]) => {
    if (kv.length % 2 !== 0) throw new Stop('odd number of items for SETITEMS');
    if (target.t !== 'dict') return;
    for (let i = 0; i < kv.length; i += 2) {
      if (target.entries.length < limits.maxContainerItems) target.entries.push([kv[i]!, kv[i + 1]!]);
      else target.dropped++;
    }
  };
  const memoPut = (i: number, v: Value) => {
    if (memo.size >= limits.maxPickleMemo && !memo.has(i)) throw new Stop(`memo larger than ${limits.maxPickleMemo}`, true);
    memo.set(i, v);
  };
  const memoGet = (i: number): Value => {
    const v = memo.get(i);
    if (v === undefined) throw new Stop(`memo key ${i} was never stored`);
    return v;
  };
  const need = (n: number): Buffer => {
    const b = cur.take(n);
    if (!b) throw new Stop('truncated operand');
    return b;
  };
  const line = (): string => {
    const b = cur.line(limits.maxLineBytes);
    if (!b) throw new Stop('unterminated text operand');
    return b.toString('latin1');
  };
  const bytesOperand = (len: number, asText: boolean): Value => {
    if (!Number.isSafeInteger(len) || len < 0) throw new Stop('negative or huge length');
    if (len > cur.remaining) throw new Stop('truncated operand');
    if (len <= limits.maxInlineBytes) {
      const b = Buffer.from(need(len));
      return asText ? { t: 'str', v: b.toString('utf8') } : { t: 'bytes', v: b, len };
    }
    // Large tensor payloads are skipped, not read: only the length is kept.
    cur.skip(len);
    return asText ? { t: 'str', v: '' } : { t: 'bytes', v: Buffer.alloc(0), len };
  };
  const imported = (module: string, name: string, offset: number, opcode: string): Value => {
    run.imports.push({ module, name, offset, opcode, protocol: run.protocol });
    return { t: 'global', module, name, offset };
  };

  try {
    for (;;) {
      const offset = cur.pos;
      const code = cur.byte();
      if (code === -1) throw new Stop('stream ends before STOP');
      const op = OPCODE_BY_BYTE[code];
      if (!op) throw new Stop(`unknown opcode 0x${code.toString(16).padStart(2, '0')}`);
      switch (op.name) {
        case 'PROTO': {
          const p = need(1)[0]!;
          if (p > 5) throw new Stop(`unsupported protocol ${p}`);
          run.protocol = p;
          break;
        }
        case 'FRAME':
          need(8);
          break;
        case 'STOP':
          run.stopped = true;
          run.end = cur.pos;
          return run;
        case 'MARK':
          marks.push(stack.length);
          push(MARK);
          break;
        case 'POP':
          if (stack[stack.length - 1] === MARK) {
            stack.pop();
            marks.pop();
          } else pop();
          break;
        case 'POP_MARK':
          popMark();
          break;
        case 'DUP':
          push(top());
          break;
        case 'NONE':
          push({ t: 'none' });
          break;
        case 'NEWTRUE':
        case 'NEWFALSE':
          push({ t: 'bool', v: op.name === 'NEWTRUE' });
          break;
        case 'INT': {
          const s = line().trim();
          push(s === '01' || s === '00' ? { t: 'bool', v: s === '01' } : { t: 'num', v: parseIntSafe(s) });
          break;
        }
        case 'LONG':
          push({ t: 'num', v: parseIntSafe(line().trim().replace(/L$/, '')) });
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
          const n = op.name === 'LONG1' ? need(1)[0]! : need(4).readInt32LE(0);
          if (n < 0 || n > limits.maxLineBytes) throw new Stop('bad LONG length');
          need(n);
          push({ t: 'num', v: 0 });
          break;
        }
        case 'FLOAT':
          push({ t: 'num', v: Number(line()) });
          break;
        case 'BINFLOAT':
          push({ t: 'num', v: need(8).readDoubleBE(0) });
          break;
        case 'STRING':
          push({ t: 'str', v: unquote(line()) });
          break;
        case 'UNICODE':
          push({ t: 'str', v: line() });
          break;
        case 'BINSTRING':
        case 'BINBYTES':
          push(bytesOperand(need(4).readUInt32LE(0), false));
          break;
        case 'SHORT_BINSTRING':
        case 'SHORT_BINBYTES':
          push(bytesOperand(need(1)[0]!, false));
          break;
        case 'BINBYTES8':
        case 'BYTEARRAY8':
          push(bytesOperand(Number(need(8).readBigUInt64LE(0)), false));
          break;
        case 'SHORT_BINUNICODE':
          push(bytesOperand(need(1)[0]!, true));
          break;
        case 'BINUNICODE':
          push(bytesOperand(need(4).readUInt32LE(0), true));
          break;
        case 'BINUNICODE8':
          push(bytesOperand(Number(need(8).readBigUInt64LE(0)), true));
          break;
        case 'NEXT_BUFFER':
          push({ t: 'buffer' });
          break;
        case 'READONLY_BUFFER':
          top();
          break;
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
          push(seq('list', popMark()));
          break;
        case 'TUPLE':
          push(seq('tuple', popMark()));
          break;
        case 'FROZENSET':
          push(seq('set', popMark()));
          break;
        case 'TUPLE1':
        case 'TUPLE2':
        case 'TUPLE3': {
          const n = Number(op.name.slice(5));
          const items: Value[] = [];
          for (let i = 0; i < n; i++) items.unshift(pop());
          push(seq('tuple', items));
          break;
        }
        case 'DICT': {
          const d: Value = { t: 'dict', entries: [], dropped: 0 };
          setItems(d, popMark());
          push(d);
          break;
        }
        case 'APPEND': {
          const v = pop();
          addItems(top(), [v]);
          break;
        }
        case 'APPENDS':
        case 'ADDITEMS': {
          const items = popMark();
          addItems(top(), items);
          break;
        }
        case 'SETITEM': {
          const v = pop();
          const k = pop();
          setItems(top(), [k, v]);
          break;
        }
        case 'SETITEMS': {
          const kv = popMark();
          setItems(top(), kv);
          break;
        }
        case 'GET':
          push(memoGet(parseIntSafe(line().trim()) as number));
          break;
        case 'BINGET':
          push(memoGet(need(1)[0]!));
          break;
        case 'LONG_BINGET':
          push(memoGet(need(4).readUInt32LE(0)));
          break;
        case 'PUT':
          memoPut(parseIntSafe(line().trim()) as number, top());
          break;
        case 'BINPUT':
          memoPut(need(1)[0]!, top());
          break;
        case 'LONG_BINPUT':
          memoPut(need(4).readUInt32LE(0), top());
          break;
        case 'MEMOIZE':
          memoPut(memo.size, top());
          break;
        case 'EXT1':
        case 'EXT2':
        case 'EXT4': {
          // The copyreg extension registry maps codes to globals the loader resolves; unknown here.
          need(op.name === 'EXT1' ? 1 : op.name === 'EXT2' ? 2 : 4);
          run.dynamicImports.push({ offset, what: `${op.name} extension code (resolved by copyreg at load time)` });
          push(unknown('extension'));
          break;
        }
        case 'GLOBAL': {
          const module = line();
          const name = line();
          push(imported(module, name, offset, 'GLOBAL'));
          break;
        }
        case 'STACK_GLOBAL': {
          const nameV = pop();
          const moduleV = pop();
          const module = strOf(moduleV);
          const name = strOf(nameV);
          if (module === undefined || name === undefined || moduleV.t === 'bytes' || nameV.t === 'bytes') {
            run.dynamicImports.push({ offset, what: `STACK_GLOBAL of ${render(moduleV)}.${render(nameV)}` });
            push(unknown('dynamic import'));
          } else push(imported(module, name, offset, 'STACK_GLOBAL'));
          break;
        }
        case 'INST': {
          const module = line();
          const name = line();
          const args = seq('tuple', popMark());
          const fn = imported(module, name, offset, 'INST');
          run.calls.push({ fn, args, how: 'INST', offset });
          push({ t: 'call', fn, args, offset, how: 'INST' });
          break;
        }
        case 'OBJ': {
          const items = popMark();
          const fn = items.shift();
          if (!fn) throw new Stop('OBJ without a class');
          const args = seq('tuple', items);
          run.calls.push({ fn, args, how: 'OBJ', offset });
          push({ t: 'call', fn, args, offset, how: 'OBJ' });
          break;
        }
        case 'REDUCE':
        case 'NEWOBJ': {
          const args = pop();
          const fn = pop();
          run.calls.push({ fn, args, how: op.name, offset });
          push({ t: 'call', fn, args, offset, how: op.name });
          break;
        }
        case 'NEWOBJ_EX': {
          const kwargs = pop();
          const args = pop();
          const fn = pop();
          const all = seq('tuple', [args, kwargs]);
          run.calls.push({ fn, args: all, how: 'NEWOBJ_EX', offset });
          push({ t: 'call', fn, args: all, offset, how: 'NEWOBJ_EX' });
          break;
        }
        case 'BUILD': {
          const state = pop();
          const obj = top();
          // BUILD calls obj.__setstate__(state) when the class defines it: an invocation too. A
          // state that sets the instance attribute __setstate__ plants a callable that the next
          // BUILD on the same object calls (a known bypass: no REDUCE on the dangerous callable).
          run.calls.push({ fn: planted.get(obj) ?? obj, args: state, how: 'BUILD', offset });
          const plant = plantedSetstate(state);
          if (plant) planted.set(obj, plant);
          inlineArray(obj, state);
          break;
        }
        case 'PERSID':
          push({ t: 'persid', id: { t: 'str', v: line() } });
          break;
        case 'BINPERSID':
          push({ t: 'persid', id: pop() });
          break;
        default:
          throw new Stop(`opcode ${op.name} not handled`);
      }
    }
  } catch (err) {
    if (!(err instanceof Stop)) throw err;
    run.error = { offset: cur.pos, message: err.message, ...(err.limit ? { limit: true } : {}) };
    run.end = cur.pos;
    return run;
  }

  /**
   * joblib writes each numpy array's bytes straight into the stream after the BUILD of its
   * NumpyArrayWrapper (after an alignment byte and padding), and an object array as a whole nested
   * pickle at that point. Skip the raw bytes exactly; run the nested pickle.
   */
  function inlineArray(obj: Value, state: Value): void {
    if (obj.t !== 'call' || obj.fn.t !== 'global' || obj.fn.module !== 'joblib.numpy_pickle' || obj.fn.name !== 'NumpyArrayWrapper') return;
    if (state.t !== 'dict') throw new Stop('NumpyArrayWrapper state is not a dict');
    const get = (k: string) => state.entries.find(([key]) => strOf(key) === k)?.[1];
    const dtype = get('dtype');
    const code = dtype?.t === 'call' && dtype.args.t === 'tuple' ? strOf(dtype.args.items[0]) : undefined;
    if (code === undefined) throw new Stop('NumpyArrayWrapper without a readable dtype');
    if (code.replace(/^[<>|=]/, '').startsWith('O')) {
      if (depth + 1 > limits.maxNestingDepth) throw new Stop('nested pickles too deep', true);
      const inner = runPickle(cur, limits, depth + 1);
      run.nested.push(inner);
      if (inner.error) throw new Stop(`inline object array: ${inner.error.message}`, inner.error.limit);
      return;
    }
    const shape = get('shape');
    if (shape?.t !== 'tuple' || shape.dropped) throw new Stop('NumpyArrayWrapper shape unreadable');
    let count = 1n;
    for (const d of shape.items) {
      if (d.t !== 'num' || Number(d.v) < 0) throw new Stop('NumpyArrayWrapper shape unreadable');
      count *= BigInt(d.v);
    }
    const size = count * BigInt(itemSize(code));
    if (get('numpy_array_alignment_bytes') !== undefined) {
      const pad = need(1)[0]!;
      need(pad);
    }
    if (size > BigInt(cur.remaining)) throw new Stop('array data runs past the end');
    cur.skip(Number(size));
  }
}

/** Bytes per element of a numpy dtype string ('<f8', '|u1', '<U5', 'c16', '?'). */
export function itemSize(code: string): number {
  const m = /^[<>|=]?([a-zA-Z?])(\d*)$/.exec(code);
  if (!m) throw new Stop(`unsupported dtype ${JSON.stringify(code)}`);
  const kind = m[1]!;
  const n = m[2] ? Number(m[2]) : kind === '?' || kind === 'b' ? 1 : 0;
  if (kind === 'U') return 4 * n;
  if (n === 0 && kind !== '?') throw new Stop(`dtype without a size ${JSON.stringify(code)}`);
  return n || 1;
}

function parseIntSafe(s: string): number | bigint {
  if (!/^[-+]?\d+$/.test(s)) throw new Stop(`not an integer: ${JSON.stringify(s.slice(0, 40))}`);
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : BigInt(s);
}

/** A protocol-0 STRING operand is a quoted Python literal; keep its text, escapes resolved loosely. */
function unquote(s: string): string {
  const q = s[0];
  if ((q !== "'" && q !== '"') || s[s.length - 1] !== q || s.length < 2) throw new Stop('STRING operand is not quoted');
  return s.slice(1, -1).replace(/\\x([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))).replace(/\\(.)/g, '$1');
}

/** The callable a BUILD state assigns to `__setstate__` (in the dict state or the slot-state dict of a (dict, slots) pair). */
function plantedSetstate(state: Value): Value | undefined {
  const dicts = state.t === 'dict' ? [state] : state.t === 'tuple' ? state.items.filter((v) => v.t === 'dict') : [];
  for (const d of dicts) {
    if (d.t !== 'dict') continue;
    for (const [k, v] of d.entries) if (k.t === 'str' && k.v === '__setstate__') return v;
  }
  return undefined;
}
