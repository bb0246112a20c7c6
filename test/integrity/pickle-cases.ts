import fc from 'fast-check';
import { OPCODES, type ArgKind } from '../../src/formats/pickle-opcodes.js';

/**
 * Pickle streams for the differential test: valid pickles (made by CPython's pickler, every
 * protocol) mutated, random opcode sequences with operands drawn from the forms the C unpickler
 * treats specially (strtol base 0, Python int literals, quoting and escapes, UTF-8 edge cases,
 * lengths that lie), and raw random bytes.
 */

const bytes = (s: string) => Buffer.from(s, 'latin1');

/** Text operands (without '\n') that hit the parsing corners of INT, LONG, FLOAT, GET/PUT and PERSID. */
const LINES = [
  '0',
  '1',
  '01',
  '00',
  '0x1',
  '0X1f',
  '0x',
  '010',
  '08',
  '0777777777777777777777777',
  '0b1',
  '0o7',
  '0_7',
  '1_0',
  '1__0',
  '1_',
  '_1',
  ' 1',
  '\t0',
  '+1',
  '-0',
  '-1',
  '1 ',
  '1\r',
  '\x001',
  '\x00',
  '\x00x',
  '1\x00zz',
  '-',
  '+-1',
  '99999999999999999999',
  '-9223372036854775808',
  '9223372036854775808',
  '0x7fffffffffffffff',
  '0x8000000000000000',
  '1L',
  'L',
  '12L',
  '0x1_0L',
  '1.5',
  '.5',
  '1.',
  '1e5',
  '1e',
  '1e999',
  '-1e-999',
  'inf',
  '-Infinity',
  'nan',
  'NaN',
  'infinit',
  'i',
  '1_0.0',
  '0x1p3',
  ' 1.0',
  '5'.repeat(4300),
  '5'.repeat(4301),
  'abc',
  'é',
  '\xff',
  '',
];
const QUOTED = ["''", '""', "'a'", '\'a"', "'", "'abc\\'", "'\\x41'", "'\\x4'", "'\\x4g'", "'\\777'", "'\\0'", "'\\q'", "'\\\\'", "'\\n\\t'", "'é'", "'os'", "'system'", '"\'"', "'a\\\nb'"];
const RAW_UNICODE = ['abc', '\\u0041', '\\u00', '\\U0001F600', '\\U00110000', '\\\\u0041', '\\', 'a\\', '\\x41', '\xe9', '\\ud800', 'os', 'system'];
const NAMES = [
  'os\nsystem',
  'builtins\neval',
  '__builtin__\nopen',
  'collections\nOrderedDict',
  'torch._utils\n_rebuild_tensor_v2',
  'm\xc3\xa9\nx',
  '\xff\nx',
  'os\n',
  '\nx',
  'a.b\nc.d',
  '\xed\xa0\x80\nx',
];
const DATA = ['', 'os', 'system', 'eval', '__builtin__', 'é', '\xc3\xa9', '\xff\xfe', '\xed\xa0\x80', '\xc0\x80', '\xf4\x90\x80\x80', 'abc\n', '\x00'];

const pick = <T>(xs: readonly T[]) => fc.constantFrom(...xs);
const u8 = fc.oneof(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 255 }));
const le = (n: number | bigint, size: number) => {
  const b = Buffer.alloc(size);
  if (size === 1) b.writeUInt8(Number(n) & 0xff);
  else if (size === 2) b.writeUInt16LE(Number(n) & 0xffff);
  else if (size === 4) b.writeUInt32LE(Number(BigInt.asUintN(32, BigInt(n))));
  else b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(n)));
  return b;
};
/** A length operand that matches its data most of the time, and lies otherwise. */
const counted = (size: number) =>
  fc
    .tuple(pick(DATA), fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -3, max: 3 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 2 ** 31 }) }))
    .map(([d, lie]) => {
      const data = bytes(d);
      return Buffer.concat([le(Math.max(0, data.length + lie), size), data]);
    });
const withNl = (xs: readonly string[]) => fc.tuple(pick(xs), fc.double({ min: 0, max: 1, noNaN: true })).map(([s, r]) => bytes(r < 0.97 ? `${s}\n` : s));

const OPERAND: Record<ArgKind, fc.Arbitrary<Buffer>> = {
  none: fc.constant(Buffer.alloc(0)),
  uint1: u8.map((n) => le(n, 1)),
  uint2: fc.oneof(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 65535 })).map((n) => le(n, 2)),
  int4: fc.oneof(fc.integer({ min: -2, max: 4 }), fc.integer()).map((n) => le(n, 4)),
  // memo indices: the C unpickler allocates a memo twice the index (a huge one costs the oracle gigabytes)
  uint4: fc.oneof(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 0xffff })).map((n) => le(n, 4)),
  uint8: fc.oneof(fc.integer({ min: 0, max: 16 }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })).map((n) => le(n, 8)),
  float8: fc.uint8Array({ minLength: 8, maxLength: 8 }).map((a) => Buffer.from(a)),
  line: withNl(LINES),
  stringnl: withNl(QUOTED),
  unicodenl: withNl(RAW_UNICODE),
  twolines: withNl(NAMES),
  bytes1: counted(1),
  bytes4: counted(4),
  bytes8: counted(8),
};

/** Short valid fragments, so random sequences build real structures and reach deep. */
const SNIPPETS = [
  'cos\nsystem\n',
  '\x8c\x02os\x8c\x06system\x93',
  '\x8c\x02os\x94\x8c\x06system\x94\x93',
  'X\x02\x00\x00\x00osX\x06\x00\x00\x00system\x93',
  'U\x02osU\x06system\x93',
  ')R',
  '(tR',
  'N\x85R',
  ')\x81',
  ')}\x92',
  '(K\x01K\x02t',
  '}q\x00',
  'h\x00',
  ']',
  '(K\x01e',
  'K\x01a',
  'N}\x86b',
  '}b',
  'Nb',
  '(K\x01K\x02u',
  'K\x01K\x02s',
  '\x8f(K\x01\x90',
  '(K\x01\x91',
  "(cos\nsystem\nS'x'\no",
  "(S'x'\nios\nsystem\n",
  'Pid\n',
  'K\x01Q',
  '\x80\x04',
  '\x95\x05\x00\x00\x00\x00\x00\x00\x00',
  '(',
  '0',
  '1',
  '2',
  '\x94',
  'g0\n',
  'p1\n',
  'I01\n',
  'I0x1\n',
  'L5L\n',
  'F1.5\n',
  '\x96\x01\x00\x00\x00\x00\x00\x00\x00A',
  '\x98',
  '\x82\x01',
  'K\x01K\x02\x86',
  '\x88\x89',
].map(bytes);

const opcode = fc.constantFrom(...OPCODES).chain((op) => OPERAND[op.arg].map((arg) => Buffer.concat([Buffer.from([op.code]), arg])));
const piece = fc.oneof({ weight: 3, arbitrary: opcode }, { weight: 2, arbitrary: pick(SNIPPETS) });

/** A random opcode sequence, usually ending in STOP (sometimes with trailing bytes). */
export const opcodeSequence: fc.Arbitrary<Buffer> = fc
  .tuple(fc.option(fc.integer({ min: 0, max: 6 }).map((p) => Buffer.from([0x80, p]))), fc.array(piece, { maxLength: 24 }), fc.constantFrom(bytes('.'), bytes('.'), bytes('.'), bytes(''), bytes('.N.')))
  .map(([proto, body, end]) => Buffer.concat([proto ?? Buffer.alloc(0), ...body, end]));

type Mutation = { kind: 'set' | 'insert' | 'delete' | 'truncate' | 'dup'; at: number; len: number; insert: Buffer };
const mutation: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom('set', 'set', 'insert', 'insert', 'delete', 'truncate', 'dup'),
  at: fc.nat(),
  len: fc.integer({ min: 1, max: 8 }),
  insert: fc.oneof(
    piece,
    fc.uint8Array({ minLength: 1, maxLength: 2 }).map((a) => Buffer.from(a)),
  ),
});

function mutate(seed: Buffer, muts: Mutation[]): Buffer {
  let b = Buffer.from(seed);
  for (const m of muts) {
    const at = b.length ? m.at % (b.length + 1) : 0;
    if (m.kind === 'set' && b.length) b[at % b.length] = m.insert[0]!;
    else if (m.kind === 'insert') b = Buffer.concat([b.subarray(0, at), m.insert, b.subarray(at)]);
    else if (m.kind === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.len)]);
    else if (m.kind === 'truncate') b = b.subarray(0, at);
    else if (m.kind === 'dup') b = Buffer.concat([b.subarray(0, at + m.len), b.subarray(at)]);
  }
  return b;
}

/** Valid pickles with one to four mutations each. */
export const mutatedSeed = (seeds: Buffer[]): fc.Arbitrary<Buffer> =>
  fc.tuple(fc.nat(seeds.length - 1), fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([i, muts]) => mutate(seeds[i]!, muts));

export const randomBytes: fc.Arbitrary<Buffer> = fc.uint8Array({ maxLength: 48 }).map((a) => Buffer.from(a));

/**
 * Valid pickles re-framed: a FRAME declared right after the PROTO header (an opcode boundary) whose
 * length ends the frame at a random point of the body — often inside an operand, where a file
 * reader (io.BytesIO, as torch.load reads data.pkl) drops the rest of the frame and reads on after
 * it while a bytes reader reads straight through — and sometimes a second FRAME at that point.
 */
export const framedSeed = (seeds: Buffer[]): fc.Arbitrary<Buffer> =>
  fc.tuple(fc.nat(seeds.length - 1), fc.double({ min: 0, max: 1, noNaN: true }), fc.option(fc.double({ min: 0, max: 1, noNaN: true }))).map(([i, cut, again]) => {
    const seed = seeds[i]!;
    const header = seed[0] === 0x80 ? seed.subarray(0, 2) : Buffer.alloc(0);
    const body = seed.subarray(header.length);
    const n = Math.floor(cut * (body.length + 1));
    if (again === null) return Buffer.concat([header, frameOp(n), body]);
    const m = Math.floor(again * (body.length - n + 1));
    return Buffer.concat([header, frameOp(n), body.subarray(0, n), frameOp(m), body.subarray(n)]);
  });

const frameOp = (n: number) => Buffer.concat([Buffer.from([0x95]), le(n, 8)]);
