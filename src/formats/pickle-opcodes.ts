/**
 * The pickle opcode table, protocols 0-5, as CPython's Lib/pickletools.py defines it (the spec
 * authority: test/static/opcodes.test.ts compares this table with pickletools.opcodes). The
 * sniffer and the symbolic interpreter (src/static/pickle) both read it.
 * `arg` says how the operand is encoded after the opcode byte.
 */
export type ArgKind =
  | 'none'
  | 'uint1'
  | 'uint2'
  | 'int4'
  | 'uint4'
  | 'uint8'
  | 'float8'
  | 'line' // one '\n'-terminated line (decimal, float, persistent id, memo index)
  | 'stringnl' // one line, a quoted Python str literal
  | 'unicodenl' // one line, raw-unicode-escape
  | 'twolines' // module\nname\n (GLOBAL, INST)
  | 'bytes1' // uint1 length + bytes
  | 'bytes4' // int4/uint4 length + bytes
  | 'bytes8'; // uint8 length + bytes

/** Every opcode's name: the interpreter switches on this union, so a table entry it does not handle fails to compile. */
export type OpcodeName = (typeof TABLE)[number][0];

interface OpcodeInfo {
  readonly name: OpcodeName;
  readonly code: number;
  readonly arg: ArgKind;
  readonly proto: number;
}

const TABLE = [
  ['INT', 'I', 'line', 0],
  ['BININT', 'J', 'int4', 1],
  ['BININT1', 'K', 'uint1', 1],
  ['BININT2', 'M', 'uint2', 1],
  ['LONG', 'L', 'line', 0],
  ['LONG1', '\x8a', 'bytes1', 2],
  ['LONG4', '\x8b', 'bytes4', 2],
  ['STRING', 'S', 'stringnl', 0],
  ['BINSTRING', 'T', 'bytes4', 1],
  ['SHORT_BINSTRING', 'U', 'bytes1', 1],
  ['BINBYTES', 'B', 'bytes4', 3],
  ['SHORT_BINBYTES', 'C', 'bytes1', 3],
  ['BINBYTES8', '\x8e', 'bytes8', 4],
  ['BYTEARRAY8', '\x96', 'bytes8', 5],
  ['NEXT_BUFFER', '\x97', 'none', 5],
  ['READONLY_BUFFER', '\x98', 'none', 5],
  ['NONE', 'N', 'none', 0],
  ['NEWTRUE', '\x88', 'none', 2],
  ['NEWFALSE', '\x89', 'none', 2],
  ['UNICODE', 'V', 'unicodenl', 0],
  ['SHORT_BINUNICODE', '\x8c', 'bytes1', 4],
  ['BINUNICODE', 'X', 'bytes4', 1],
  ['BINUNICODE8', '\x8d', 'bytes8', 4],
  ['FLOAT', 'F', 'line', 0],
  ['BINFLOAT', 'G', 'float8', 1],
  ['EMPTY_LIST', ']', 'none', 1],
  ['APPEND', 'a', 'none', 0],
  ['APPENDS', 'e', 'none', 1],
  ['LIST', 'l', 'none', 0],
  ['EMPTY_TUPLE', ')', 'none', 1],
  ['TUPLE', 't', 'none', 0],
  ['TUPLE1', '\x85', 'none', 2],
  ['TUPLE2', '\x86', 'none', 2],
  ['TUPLE3', '\x87', 'none', 2],
  ['EMPTY_DICT', '}', 'none', 1],
  ['DICT', 'd', 'none', 0],
  ['SETITEM', 's', 'none', 0],
  ['SETITEMS', 'u', 'none', 1],
  ['EMPTY_SET', '\x8f', 'none', 4],
  ['ADDITEMS', '\x90', 'none', 4],
  ['FROZENSET', '\x91', 'none', 4],
  ['POP', '0', 'none', 0],
  ['DUP', '2', 'none', 0],
  ['MARK', '(', 'none', 0],
  ['POP_MARK', '1', 'none', 1],
  ['GET', 'g', 'line', 0],
  ['BINGET', 'h', 'uint1', 1],
  ['LONG_BINGET', 'j', 'uint4', 1],
  ['PUT', 'p', 'line', 0],
  ['BINPUT', 'q', 'uint1', 1],
  ['LONG_BINPUT', 'r', 'uint4', 1],
  ['MEMOIZE', '\x94', 'none', 4],
  ['EXT1', '\x82', 'uint1', 2],
  ['EXT2', '\x83', 'uint2', 2],
  ['EXT4', '\x84', 'int4', 2],
  ['GLOBAL', 'c', 'twolines', 0],
  ['STACK_GLOBAL', '\x93', 'none', 4],
  ['REDUCE', 'R', 'none', 0],
  ['BUILD', 'b', 'none', 0],
  ['INST', 'i', 'twolines', 0],
  ['OBJ', 'o', 'none', 1],
  ['NEWOBJ', '\x81', 'none', 2],
  ['NEWOBJ_EX', '\x92', 'none', 4],
  ['PROTO', '\x80', 'uint1', 2],
  ['STOP', '.', 'none', 0],
  ['FRAME', '\x95', 'uint8', 4],
  ['PERSID', 'P', 'line', 0],
  ['BINPERSID', 'Q', 'none', 1],
] as const satisfies readonly (readonly [string, string, ArgKind, number])[];

export const OPCODES: readonly OpcodeInfo[] = TABLE.map(([name, ch, arg, proto]) => Object.freeze({ name, code: ch.charCodeAt(0), arg, proto }));

/** Indexed by opcode byte; undefined for bytes that are not opcodes. */
export const OPCODE_BY_BYTE: readonly (OpcodeInfo | undefined)[] = (() => {
  const byByte = new Array<OpcodeInfo | undefined>(256).fill(undefined);
  for (const op of OPCODES) byByte[op.code] = op;
  return byByte;
})();

const BY_NAME = new Map(OPCODES.map((op) => [op.name, op.code]));

/** The byte of a named opcode. */
export function opcodeByte(name: OpcodeName): number {
  return BY_NAME.get(name)!;
}

export const HIGHEST_PROTOCOL = 5;
