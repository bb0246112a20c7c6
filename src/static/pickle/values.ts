import type { Bytes } from '../../formats/bytes.js';

/**
 * Symbolic values of the pickle interpreter: what a real unpickler would hold, without running
 * anything. Containers keep at most `maxContainerItems` items (the rest are counted). A bytes or
 * string operand is never copied whole: a value keeps at most `maxInlineBytes` of it (enough for a
 * name, a mode, a dtype, the prefix that says whether it is an encoded pickle) and a view of the
 * rest where it lies in the stream, so memory stays bounded whatever a pickle holds.
 */
export type Value =
  /**
   * `big`: an operand longer than maxInlineBytes, not decoded (its text is not known; `at` is its
   * raw bytes in place). `py2`: a Python 2 string (STRING, BINSTRING), decoded as latin-1; a loader
   * with encoding='bytes' keeps bytes.
   */
  | { t: 'str'; v: string; big?: true; py2?: true; at?: Bytes }
  /**
   * `v`: the first min(len, maxInlineBytes) bytes; `at`: the whole operand in place (not read).
   * `kind`: a bytearray (BYTEARRAY8) or the read-only memoryview READONLY_BUFFER makes of one.
   */
  | { t: 'bytes'; v: Buffer; len: number; at: Bytes; kind?: 'bytearray' | 'memoryview' }
  | { t: 'num'; v: number | bigint }
  | { t: 'float'; v: number }
  | { t: 'bool'; v: boolean }
  | { t: 'none' }
  /** `frozen`: a frozenset; `unhashable`: a tuple holding a list, dict, set or bytearray. */
  | { t: 'tuple' | 'list' | 'set'; items: Value[]; dropped: number; frozen?: true; unhashable?: true }
  /** Keys that are not str, counted as constants and as loader-made objects (NEWOBJ_EX keyword arguments must be str). */
  | { t: 'dict'; entries: [Value, Value][]; dropped: number; nonStrKeys?: number; stubKeys?: number }
  /** `root`: the index in PickleRun.trace of the find_class (or persistent_load) that made the object. */
  | { t: 'global'; module: string; name: string; offset: number; root?: number }
  | { t: 'call'; fn: Value; args: Value; offset: number; how: 'REDUCE' | 'INST' | 'OBJ' | 'NEWOBJ' | 'NEWOBJ_EX'; root?: number }
  | { t: 'persid'; id: Value; root?: number }
  | { t: 'buffer' }
  | { t: 'unknown'; why: string };

export const MARK = Symbol('mark');
export type Slot = Value | typeof MARK;

/** The callable a value stands for, if it is a resolved import (directly or as the thing a call returned). */
export function globalOf(v: Value | undefined): { module: string; name: string } | undefined {
  return v?.t === 'global' ? v : undefined;
}

/** The text of a constant string or bytes value; undefined for one too long to have been kept. */
export function strOf(v: Value | undefined): string | undefined {
  if (v?.t === 'str') return v.big ? undefined : v.v;
  return v?.t === 'bytes' && v.v.length === v.len ? v.v.toString('latin1') : undefined;
}

/** A short, printable rendering for evidence (model-derived: escaped by the writers). */
export function render(v: Value | undefined, depth = 0): string {
  if (!v) return '?';
  if (depth > 3) return '…';
  switch (v.t) {
    case 'str':
      return JSON.stringify(v.v.length > 200 ? `${v.v.slice(0, 200)}…` : v.v);
    case 'bytes':
      return `b<${v.len} bytes>`;
    case 'num':
    case 'float':
      return String(v.v);
    case 'bool':
      return v.v ? 'True' : 'False';
    case 'none':
      return 'None';
    case 'tuple':
      return `(${v.items.map((i) => render(i, depth + 1)).join(', ')}${v.items.length === 1 ? ',' : ''}${v.dropped ? ', …' : ''})`;
    case 'list':
    case 'set':
      return `[${v.items.map((i) => render(i, depth + 1)).join(', ')}${v.dropped ? ', …' : ''}]`;
    case 'dict':
      return `{${v.entries.map(([k, x]) => `${render(k, depth + 1)}: ${render(x, depth + 1)}`).join(', ')}${v.dropped ? ', …' : ''}}`;
    case 'global':
      return `${v.module}.${v.name}`;
    case 'call':
      return `${render(v.fn, depth + 1)}${render(v.args, depth + 1)}`;
    case 'persid':
      return `persistent_id(${render(v.id, depth + 1)})`;
    case 'buffer':
      return '<buffer>';
    case 'unknown':
      return `<${v.why}>`;
  }
}
