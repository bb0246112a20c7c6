import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { EVENT_KINDS } from '../../src/core/event.js';
import { BODY, FAMILIES, FLAG, GUARD_STATE, HDR, KEYS, KIND_COUNT, LIMITS, MODE, MODE_SLOT, OPS, XFERS } from '../../src/trace/wire.js';

// Tetragon's alignchecker idea: bpf/alignchecker.c instantiates every wire struct and enum, so
// the BTF of the built object is the C side's own statement of the layout. Any drift between
// bpf/ltrack.h and src/trace/wire.ts fails here.
interface BtfMember {
  name: string;
  bits_offset: number;
}
interface BtfType {
  kind: string;
  name?: string;
  size?: number;
  members?: BtfMember[];
  values?: { name: string; val: number }[];
}
const OBJECT = new URL('../../bpf/alignchecker.bpf.o', import.meta.url).pathname;
const types = (JSON.parse(execFileSync('bpftool', ['-j', 'btf', 'dump', 'file', OBJECT], { encoding: 'utf8' })) as { types: BtfType[] }).types;

function struct(name: string): { size: number; offsets: Record<string, number> } {
  const t = types.find((x) => x.kind === 'STRUCT' && x.name === name);
  if (!t) throw new Error(`struct ${name} is not in the BTF of ${OBJECT}`);
  return { size: t.size ?? -1, offsets: Object.fromEntries((t.members ?? []).map((m) => [m.name, m.bits_offset / 8])) };
}
function enumValues(name: string): Record<string, number> {
  const t = types.find((x) => x.kind === 'ENUM' && x.name === name);
  if (!t) throw new Error(`enum ${name} is not in the BTF of ${OBJECT}`);
  return Object.fromEntries((t.values ?? []).map((v) => [v.name, v.val]));
}
/** The C enum's members for a TS table of camelCase keys: { pathMax } -> LT_PATH_MAX. */
function cNames(prefix: string, table: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(table).map(([k, v]) => [`${prefix}${k.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`, v]));
}
/** The TS table's fields other than `size`, which is checked against the struct size. */
function fieldsOf(table: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(table).filter(([k]) => k !== 'size'));
}

describe('wire layout: TypeScript decoder vs BTF of the built object', () => {
  it('struct lt_hdr', () => {
    const s = struct('lt_hdr');
    expect(s.size).toBe(HDR.size);
    expect(s.offsets).toMatchObject({
      ts: HDR.ts,
      cgroup: HDR.cgroup,
      size: HDR.recSize,
      kind: HDR.kind,
      flags: HDR.flags,
      pid: HDR.pid,
      tgid: HDR.tgid,
      ppid: HDR.ppid,
      uid: HDR.uid,
      mntns: HDR.mntns,
      count: HDR.count,
      comm: HDR.comm,
    });
    expect(Object.keys(s.offsets)).toHaveLength(12);
  });

  for (const [name, table] of Object.entries({ ...BODY, ...KEYS })) {
    it(`struct ${name}`, () => {
      const s = struct(name);
      expect(s.size).toBe(table.size);
      expect(s.offsets).toMatchObject(fieldsOf(table));
      // every non-padding C field is known to the decoder
      const unknown = Object.keys(s.offsets).filter((f) => f !== 'pad' && !(f in table));
      expect(unknown).toEqual([]);
    });
  }

  it('enum lt_kind is EVENT_KINDS in order', () => {
    const v = enumValues('lt_kind');
    expect(v.LT_KIND_COUNT).toBe(KIND_COUNT);
    EVENT_KINDS.forEach((k, i) => expect(v[`LT_${k.toUpperCase()}`], k).toBe(i));
  });

  it('enum lt_flag, lt_op, lt_family, lt_mode_bits', () => {
    const flag = enumValues('lt_flag');
    for (const [k, val] of Object.entries(FLAG)) expect(flag[`LT_F_${k.toUpperCase()}`], k).toBe(val);
    expect(Object.keys(flag)).toHaveLength(Object.keys(FLAG).length);
    const op = enumValues('lt_op');
    expect(Object.keys(op)).toHaveLength(OPS.length);
    OPS.forEach((o, i) => expect(op[`LT_OP_${o.toUpperCase()}`], o).toBe(i));
    const fam = enumValues('lt_family');
    FAMILIES.forEach((f, i) => expect(fam[`LT_FAM_${f.toUpperCase()}`], f).toBe(i));
    const xfer = enumValues('lt_xfer');
    expect(Object.keys(xfer)).toHaveLength(XFERS.length);
    XFERS.forEach((x, i) => expect(xfer[`LT_XFER_${x.toUpperCase()}`], x).toBe(i));
    const mode = enumValues('lt_mode_bits');
    expect(mode).toEqual(cNames('LT_MODE_', MODE));
    expect(enumValues('lt_guard_state')).toEqual(cNames('LT_GUARD_', GUARD_STATE));
  });

  it('enum lt_limit and lt_mode_slot: every bound and map slot, no more and no fewer', () => {
    expect(enumValues('lt_limit')).toEqual(cNames('LT_', LIMITS));
    expect(enumValues('lt_mode_slot')).toEqual(cNames('LT_MODE_', MODE_SLOT));
    expect(HDR.commLen).toBe(LIMITS.commLen);
  });
});
