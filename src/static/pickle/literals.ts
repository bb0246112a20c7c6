/**
 * The text operands of protocol-0 opcodes, parsed exactly as CPython 3.11's C unpickler
 * (Modules/_pickle.c) parses them: what it accepts is accepted here and nothing else, so a stream
 * cannot steer this interpreter down a different path than the loader takes. Each function gets
 * the line without its '\n' and returns undefined where the unpickler raises.
 */

/** C isspace in the C locale (strtol, PyLong_FromString's Py_ISSPACE). */
const isSpace = (c: number | undefined): boolean => c === 0x20 || (c !== undefined && c >= 0x09 && c <= 0x0d);

/** The line as the C string the unpickler hands on: a copy with '\n' and NUL, so the first NUL ends it. */
function cString(line: Buffer): Buffer {
  const withNl = Buffer.concat([line, Buffer.from([0x0a])]);
  const nul = withNl.indexOf(0);
  return nul === -1 ? withNl : withNl.subarray(0, nul);
}

function digitValue(c: number | undefined): number {
  if (c === undefined) return 99;
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x7a) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x5a) return c - 0x41 + 10;
  return 99;
}

/** sys.get_int_max_str_digits() default: longer decimal literals raise ValueError since 3.11. */
const MAX_STR_DIGITS = 4300;
const RADIX: Record<number, string> = { 2: '0b', 8: '0o', 10: '', 16: '0x' };

/** PyLong_FromString(s, NULL, base) on a C string: whitespace, sign, 0x/0o/0b prefixes (base 0), single underscores between digits. */
export function pyLong(s: Buffer, base: 0 | 10): bigint | undefined {
  let i = 0;
  while (i < s.length && isSpace(s[i])) i++;
  let negative = false;
  if (s[i] === 0x2b) i++;
  else if (s[i] === 0x2d) {
    negative = true;
    i++;
  }
  let b: number = base;
  let zeroOnly = false;
  const prefix = (c: number | undefined) => (c === 0x78 || c === 0x58 ? 16 : c === 0x6f || c === 0x4f ? 8 : c === 0x62 || c === 0x42 ? 2 : 0);
  if (base === 0) {
    if (s[i] !== 0x30) b = 10;
    else if (prefix(s[i + 1])) b = prefix(s[i + 1]);
    else {
      // "0123": the old octal form is invalid unless the value is zero
      zeroOnly = true;
      b = 10;
    }
  }
  if (s[i] === 0x30 && b !== 10 && prefix(s[i + 1]) === b) {
    i += 2;
    if (s[i] === 0x5f) i++;
  }
  if (s[i] === 0x5f) return undefined;
  let digits = '';
  let prev = -1;
  for (; i < s.length; i++) {
    const c = s[i]!;
    if (c === 0x5f) {
      if (prev === 0x5f) return undefined;
    } else {
      if (digitValue(c) >= b) break;
      digits += String.fromCharCode(c);
    }
    prev = c;
  }
  if (prev === 0x5f || digits.length === 0) return undefined;
  if (b === 10 && digits.length > MAX_STR_DIGITS) return undefined;
  const value = BigInt(`${RADIX[b]}${digits}`);
  if (zeroOnly && value !== 0n) return undefined;
  while (i < s.length && isSpace(s[i])) i++;
  if (i !== s.length) return undefined;
  return negative ? -value : value;
}

const LONG_MIN = -(2n ** 63n);
const LONG_MAX = 2n ** 63n - 1n;

/** glibc strtol(s, &end, 0) on a C string: the value, where it stopped, and whether it overflowed. */
function strtol(s: Buffer): { value: bigint; end: number; overflow: boolean } {
  let i = 0;
  while (i < s.length && isSpace(s[i])) i++;
  let negative = false;
  if (s[i] === 0x2b || s[i] === 0x2d) negative = s[i++] === 0x2d;
  let base = 10;
  if (s[i] === 0x30) {
    if ((s[i + 1] === 0x78 || s[i + 1] === 0x58) && digitValue(s[i + 2]) < 16) {
      base = 16;
      i += 2;
    } else base = 8;
  }
  const start = i;
  while (i < s.length && digitValue(s[i]) < base) i++;
  if (i === start) return { value: 0n, end: 0, overflow: false };
  const value = BigInt(`${RADIX[base]}${s.subarray(start, i).toString('latin1')}`);
  const signed = negative ? -value : value;
  return { value: signed, end: i, overflow: signed < LONG_MIN || signed > LONG_MAX };
}

/** INT: strtol base 0 (hex, C octal), "01"/"00" are True/False, else Python's int() grammar. */
export function parseInt0(line: Buffer): bigint | boolean | undefined {
  if (line.length === 0) return undefined;
  const s = cString(line);
  const r = strtol(s);
  const at = s[r.end];
  if (!r.overflow && (at === 0x0a || at === undefined)) {
    // len counts the '\n': a two-character line holding 0 or 1 is a Python 2 bool
    if (line.length + 1 === 3 && (r.value === 0n || r.value === 1n)) return r.value === 1n;
    return r.value;
  }
  return pyLong(s, 0);
}

/** LONG: an optional trailing 'L' is cut, then Python's int() grammar with base prefixes. */
export function parseLong(line: Buffer): bigint | undefined {
  if (line.length === 0) return undefined;
  const cut = line[line.length - 1] === 0x4c ? Buffer.concat([line.subarray(0, -1), Buffer.from([0])]) : line;
  return pyLong(cString(cut), 0);
}

/** GET/PUT keys: int(line, 10). */
export function parseMemoKey(line: Buffer): bigint | undefined {
  if (line.length === 0) return undefined;
  return pyLong(cString(line), 10);
}

const FLOAT_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/;
const INF_NAN_RE = /^[+-]?(?:infinity|inf|nan)/i;

/** FLOAT: PyOS_string_to_double (no surrounding whitespace, no underscores, inf/nan; overflow raises). */
export function parseFloat0(line: Buffer): number | undefined {
  if (line.length === 0) return undefined;
  const s = cString(line).toString('latin1');
  let m = FLOAT_RE.exec(s);
  let value: number;
  if (m) {
    value = Number(m[0]);
    if (!Number.isFinite(value)) return undefined;
  } else {
    m = INF_NAN_RE.exec(s);
    if (!m) return undefined;
    value = /n$/i.test(m[0]) ? Number.NaN : m[0].startsWith('-') ? -Infinity : Infinity;
  }
  const rest = s.slice(m[0].length);
  return rest === '' || rest === '\n' ? value : undefined;
}

/** STRING: the quoted operand, backslash escapes resolved as PyBytes_DecodeEscape does (bytes). */
export function parseQuoted(line: Buffer): Buffer | undefined {
  const len = line.length;
  const q = line[0];
  if (len < 2 || (q !== 0x27 && q !== 0x22) || line[len - 1] !== q) return undefined;
  const s = line.subarray(1, len - 1);
  const out: number[] = [];
  const simple: Record<number, number> = { 0x5c: 0x5c, 0x27: 0x27, 0x22: 0x22, 0x62: 8, 0x66: 12, 0x74: 9, 0x6e: 10, 0x72: 13, 0x76: 11, 0x61: 7 };
  const octal = (c: number | undefined) => c !== undefined && c >= 0x30 && c <= 0x37;
  for (let i = 0; i < s.length;) {
    const c = s[i++]!;
    if (c !== 0x5c) {
      out.push(c);
      continue;
    }
    if (i === s.length) return undefined; // trailing backslash
    const e = s[i++]!;
    if (e === 0x0a) continue;
    if (simple[e] !== undefined) out.push(simple[e]);
    else if (octal(e)) {
      let v = e - 0x30;
      if (octal(s[i])) {
        v = v * 8 + s[i++]! - 0x30;
        if (octal(s[i])) v = v * 8 + s[i++]! - 0x30;
      }
      out.push(v & 0xff);
    } else if (e === 0x78) {
      if (i + 1 < s.length && digitValue(s[i]) < 16 && digitValue(s[i + 1]) < 16) {
        out.push(digitValue(s[i]) * 16 + digitValue(s[i + 1]));
        i += 2;
      } else return undefined;
    } else {
      // an unknown escape stays as written (a DeprecationWarning, not an error)
      out.push(0x5c);
      i--;
    }
  }
  return Buffer.from(out);
}

/** UNICODE: raw-unicode-escape; only \uXXXX and \UXXXXXXXX are escapes, bytes are code points. */
export function parseRawUnicode(line: Buffer): string | undefined {
  let out = '';
  for (let i = 0; i < line.length;) {
    const c = line[i++]!;
    if (c !== 0x5c || i >= line.length) {
      out += String.fromCharCode(c);
      continue;
    }
    const e = line[i++]!;
    const count = e === 0x75 ? 4 : e === 0x55 ? 8 : 0;
    if (count === 0) {
      out += '\\' + String.fromCharCode(e);
      continue;
    }
    let ch = 0;
    for (let k = 0; k < count; k++, i++) {
      const d = digitValue(line[i]);
      if (d >= 16) return undefined;
      ch = ch * 16 + d;
    }
    if (ch > 0x10ffff) return undefined;
    out += String.fromCodePoint(ch);
  }
  return out;
}

/** UTF-8 as CPython decodes it: no overlongs, nothing above U+10FFFF; surrogates only with surrogatepass. */
export function decodeUtf8(b: Buffer, surrogatePass: boolean): string | undefined {
  let out = '';
  for (let i = 0; i < b.length;) {
    const c = b[i]!;
    if (c < 0x80) {
      out += String.fromCharCode(c);
      i++;
      continue;
    }
    let n: number;
    let cp: number;
    let min: number;
    if (c >= 0xc2 && c <= 0xdf) [n, cp, min] = [1, c & 0x1f, 0x80];
    else if (c >= 0xe0 && c <= 0xef) [n, cp, min] = [2, c & 0x0f, 0x800];
    else if (c >= 0xf0 && c <= 0xf4) [n, cp, min] = [3, c & 0x07, 0x10000];
    else return undefined;
    for (let k = 1; k <= n; k++) {
      const x = b[i + k];
      if (x === undefined || (x & 0xc0) !== 0x80) return undefined;
      cp = (cp << 6) | (x & 0x3f);
    }
    if (cp < min || cp > 0x10ffff) return undefined;
    if (cp >= 0xd800 && cp <= 0xdfff && !surrogatePass) return undefined;
    out += cp >= 0xd800 && cp <= 0xdfff ? String.fromCharCode(cp) : String.fromCodePoint(cp);
    i += n + 1;
  }
  return out;
}

/** ASCII strict (INST and PERSID operands). */
export function decodeAscii(b: Buffer): string | undefined {
  for (const c of b) if (c >= 0x80) return undefined;
  return b.toString('latin1');
}
