/**
 * Constant values of Jinja expressions and the operations on them that build strings — what the
 * chat template analysis (src/static/template.ts) folds an expression to. Python's semantics where
 * a name could be spelled (`~`, `+`, `%`, str.format, join, replace, slices, case changes);
 * anything else is unknown (undefined), and nothing grows past the bounds below.
 */

export type Value = string | number | boolean | null | Value[] | Map<string, Value>;
/** What an expression can evaluate to: a small set of constants, or undefined (not known statically). */
export type Folded = Value[] | undefined;

/** Candidates per expression, and characters per string, before a value counts as unknown. */
export const MAX_CANDIDATES = 32;
const MAX_STRING = 4096;

/** Both sets of candidates, each constant once (branches that agree do not multiply). */
export function union(a: Folded, b: Folded): Folded {
  if (a === undefined || b === undefined) return undefined;
  const out = [...a];
  for (const v of b) if (typeof v === 'object' && v !== null ? true : !out.includes(v)) out.push(v);
  return out.length > MAX_CANDIDATES ? undefined : out;
}

/** What a `for` over each candidate yields: list items, a string's characters, a dict's keys. */
export function elements(values: Folded): Folded {
  if (values === undefined) return undefined;
  const out: Value[] = [];
  for (const v of values) {
    const items = typeof v === 'string' ? Array.from(v) : Array.isArray(v) ? v : v instanceof Map ? [...v.keys()] : undefined;
    if (items === undefined || out.length + items.length > MAX_CANDIDATES) return undefined;
    out.push(...items);
  }
  return out;
}

export function product(lists: Value[][]): Value[][] | undefined {
  let out: Value[][] = [[]];
  for (const l of lists) {
    if (out.length * l.length > MAX_CANDIDATES) return undefined;
    out = out.flatMap((prefix) => l.map((v) => [...prefix, v]));
  }
  return out;
}

const bounded = (s: string): string | undefined => (s.length <= MAX_STRING ? s : undefined);

/** Python's str() of a folded value, for `~`, |string and joins; containers are not spelled out. */
function text(v: Value): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (v === null) return 'None';
  return undefined;
}

export function binary(op: string, a: Value, b: Value): Value | undefined {
  if (op === '~') {
    const [x, y] = [text(a), text(b)];
    return x === undefined || y === undefined ? undefined : bounded(x + y);
  }
  if (op === '+') {
    if (typeof a === 'string' && typeof b === 'string') return bounded(a + b);
    if (typeof a === 'number' && typeof b === 'number') return a + b;
    if (Array.isArray(a) && Array.isArray(b)) return a.length + b.length <= MAX_CANDIDATES ? [...a, ...b] : undefined;
    return undefined;
  }
  if (op === '*' && typeof a === 'string' && typeof b === 'number') return b >= 0 && a.length * b <= MAX_STRING ? a.repeat(b) : undefined;
  if (op === '%' && typeof a === 'string') return percentFormat(a, Array.isArray(b) ? b : [b]);
  if (op === '-' && typeof a === 'number' && typeof b === 'number') return a - b;
  return undefined;
}

/** Python's `%` on strings, for %s/%r/%d/%c and %%: enough to spell names; anything else is unknown. */
function percentFormat(fmt: string, args: Value[]): string | undefined {
  let i = 0;
  // widened: set by the replacer callback, which control-flow analysis does not see
  let failed = false as boolean;
  const out = fmt.replace(/%([%srdc])/g, (_m, c: string) => {
    if (c === '%') return '%';
    const v = args[i++];
    if (v === undefined) {
      failed = true;
      return '';
    }
    if (c === 'c') return typeof v === 'number' ? String.fromCodePoint(v) : typeof v === 'string' ? v : ((failed = true), '');
    if (c === 'r') return typeof v === 'string' ? `'${v}'` : (text(v) ?? ((failed = true), ''));
    return text(v) ?? ((failed = true), '');
  });
  return failed || /%[^%srdc]/.test(fmt) ? undefined : bounded(out);
}

/** str.format with `{}`, `{0}` and `{{`/`}}`: positional only. */
function braceFormat(fmt: string, args: Value[]): string | undefined {
  let auto = 0;
  // widened: set by the replacer callback, which control-flow analysis does not see
  let failed = false as boolean;
  const out = fmt.replace(/\{\{|\}\}|\{(\d*)\}/g, (m, n: string | undefined) => {
    if (m === '{{') return '{';
    if (m === '}}') return '}';
    const v = args[n ? Number(n) : auto++];
    const s = v === undefined ? undefined : text(v);
    if (s === undefined) failed = true;
    return s ?? '';
  });
  return failed ? undefined : bounded(out);
}

export function slice(o: Value, start: Value, stop: Value, step: Value): Value | undefined {
  if (typeof o !== 'string' && !Array.isArray(o)) return undefined;
  const num = (v: Value): number | null | undefined => (v === null ? null : typeof v === 'number' && Number.isInteger(v) ? v : undefined);
  const [a, b, c] = [num(start), num(stop), num(step) ?? 1];
  if (a === undefined || b === undefined || c === 0) return undefined;
  // a string slices by code points, as Python's str does
  return typeof o === 'string' ? pick(Array.from(o), a, b, c).join('') : pick(o, a, b, c);
}

/** items[a:b:c] with Python's clamping of negative and out-of-range bounds; c is not 0. */
function pick<T>(items: T[], a: number | null, b: number | null, c: number): T[] {
  const n = items.length;
  const clamp = (x: number, lo: number, hi: number) => Math.min(Math.max(x, lo), hi);
  const norm = (x: number) => (x < 0 ? x + n : x);
  const picked: T[] = [];
  if (c > 0) {
    for (let i = a === null ? 0 : clamp(norm(a), 0, n), end = b === null ? n : clamp(norm(b), 0, n); i < end; i += c) picked.push(items[i]!);
  } else {
    for (let i = a === null ? n - 1 : clamp(norm(a), -1, n - 1), end = b === null ? -1 : clamp(norm(b), -1, n - 1); i > end; i += c) picked.push(items[i]!);
  }
  return picked;
}

export function index(o: Value, k: Value): Value | undefined {
  if (o instanceof Map) return typeof k === 'string' ? o.get(k) : undefined;
  const items = typeof o === 'string' ? Array.from(o) : Array.isArray(o) ? o : undefined;
  if (items === undefined || typeof k !== 'number' || !Number.isInteger(k)) return undefined;
  return items[k < 0 ? k + items.length : k];
}

/** Filters and str methods that build strings, on constants; anything else is unknown. */
export function method(name: string, o: Value, args: Value[]): Value | undefined {
  const s = typeof o === 'string' ? o : undefined;
  const list = Array.isArray(o) ? o : o instanceof Map ? [...o.keys()] : typeof o === 'string' ? Array.from(o) : undefined;
  switch (name) {
    case 'string':
    case 'safe':
    case 'e':
    case 'escape':
    case 'trim':
    case 'strip':
      return s === undefined ? text(o) : name === 'trim' || name === 'strip' ? s.trim() : s;
    case 'lstrip':
      return s?.trimStart();
    case 'rstrip':
      return s?.trimEnd();
    case 'lower':
      return s?.toLowerCase();
    case 'upper':
      return s?.toUpperCase();
    case 'capitalize':
      return s === undefined ? undefined : s.slice(0, 1).toUpperCase() + s.slice(1).toLowerCase();
    case 'title':
      return s?.replace(/\w\S*/g, (w) => w[0]!.toUpperCase() + w.slice(1).toLowerCase());
    case 'reverse':
      return s !== undefined ? Array.from(s).reverse().join('') : list ? [...list].reverse() : undefined;
    case 'list':
      return list;
    case 'first':
      return list?.[0];
    case 'last':
      return list?.[list.length - 1];
    case 'join': {
      // the |join filter: the operand is the sequence; str.join: the operand is the separator
      const [seq, sep] = s !== undefined && Array.isArray(args[0]) ? [args[0], s] : [list, args[0] ?? ''];
      if (seq === undefined || typeof sep !== 'string') return undefined;
      const parts = seq.map(text);
      return parts.some((p) => p === undefined) ? undefined : bounded(parts.join(sep));
    }
    case 'replace': {
      const [from, to, count] = args;
      if (s === undefined || typeof from !== 'string' || typeof to !== 'string') return undefined;
      let n = typeof count === 'number' ? count : -1;
      let out = '';
      let rest = s;
      while (n !== 0 && from !== '' && rest.includes(from)) {
        const at = rest.indexOf(from);
        out += rest.slice(0, at) + to;
        rest = rest.slice(at + from.length);
        n--;
      }
      return from === '' ? undefined : bounded(out + rest);
    }
    case 'format':
      // the |format filter is Python's `%`; str.format is braces (the filter's operand is the format string either way)
      return s === undefined ? undefined : s.includes('%') ? percentFormat(s, args) : braceFormat(s, args);
    case 'split': {
      if (s === undefined) return undefined;
      const parts = typeof args[0] === 'string' && args[0] !== '' ? s.split(args[0]) : s.trim().split(/\s+/);
      return parts.length <= MAX_CANDIDATES ? parts : undefined;
    }
    default:
      return undefined;
  }
}
