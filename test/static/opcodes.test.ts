import { describe, expect, it } from 'vitest';
import { HIGHEST_PROTOCOL, OPCODES, type ArgKind } from '../../src/formats/pickle-opcodes.js';
import { runPython, type PythonWhere } from '../helpers/python.js';

/**
 * The opcode table in src/formats/pickle-opcodes.ts is the interpreter's authority; CPython's
 * pickletools.opcodes is the specification's. They must agree on every opcode's name, byte, operand
 * encoding and the protocol that introduced it, on the Python the fixtures are made with (the host's)
 * and on the one that loads candidates (the sandbox image's).
 */
const DUMP = `
import json, pickle, pickletools
print(json.dumps({"highest": pickle.HIGHEST_PROTOCOL, "ops": [[op.name, ord(op.code), op.arg.name if op.arg else None, op.arg.n if op.arg else None, op.proto] for op in pickletools.opcodes]}))
`;

interface PickletoolsOp {
  name: string;
  code: number;
  arg: string | null;
  /** pickletools' operand width: bytes, or a negative marker (up to newline, length-prefixed). */
  n: number | null;
  proto: number;
}

/** pickletools' ArgumentDescriptor names, by the encoding our table gives them. */
const ARG_NAMES: Record<ArgKind, (string | null)[]> = {
  none: [null],
  uint1: ['uint1'],
  uint2: ['uint2'],
  int4: ['int4'],
  uint4: ['uint4'],
  uint8: ['uint8'],
  float8: ['float8'],
  line: ['decimalnl_short', 'decimalnl_long', 'floatnl', 'stringnl_noescape'],
  stringnl: ['stringnl'],
  unicodenl: ['unicodestringnl'],
  twolines: ['stringnl_noescape_pair'],
  bytes1: ['long1', 'string1', 'bytes1', 'unicodestring1'],
  bytes4: ['long4', 'string4', 'bytes4', 'unicodestring4'],
  bytes8: ['bytes8', 'bytearray8', 'unicodestring8'],
};

/**
 * The operand width pickletools gives each encoding, independent of the names above: a fixed byte
 * count, UP_TO_NEWLINE (-1), TAKEN_FROM_ARGUMENT1 (-2), ARGUMENT4 signed (-3) or unsigned (-4),
 * ARGUMENT8U (-5).
 */
const ARG_WIDTHS: Record<ArgKind, (number | null)[]> = {
  none: [null],
  uint1: [1],
  uint2: [2],
  int4: [4],
  uint4: [4],
  uint8: [8],
  float8: [8],
  line: [-1],
  stringnl: [-1],
  unicodenl: [-1],
  twolines: [-1],
  bytes1: [-2],
  bytes4: [-3, -4],
  bytes8: [-5],
};

describe.each<PythonWhere>(['host', 'image'])("the opcode table against pickletools on the %s's python", (where) => {
  it('has the same opcodes, bytes, operand encodings and protocols', async () => {
    const { highest, ops } = JSON.parse(await runPython(where, DUMP)) as { highest: number; ops: [string, number, string | null, number | null, number][] };
    const theirs = new Map<string, PickletoolsOp>(ops.map(([name, code, arg, n, proto]) => [name, { name, code, arg, n, proto }]));
    expect(theirs.size).toBeGreaterThan(60);
    expect([...OPCODES.map((o) => o.name)].sort()).toEqual([...theirs.keys()].sort());
    for (const ours of OPCODES) {
      const op = theirs.get(ours.name)!;
      expect({ name: ours.name, code: ours.code, proto: ours.proto }).toEqual({ name: op.name, code: op.code, proto: op.proto });
      expect(ARG_NAMES[ours.arg], `${ours.name}: pickletools encodes its operand as ${op.arg}`).toContain(op.arg);
      expect(ARG_WIDTHS[ours.arg], `${ours.name}: pickletools reads ${op.n} operand bytes`).toContain(op.n);
    }
    expect(HIGHEST_PROTOCOL).toBe(highest);
  });
});
