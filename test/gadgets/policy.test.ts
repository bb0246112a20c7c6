import { describe, expect, it } from 'vitest';
import type { Detection } from '../../src/core/finding.js';
import { BufBytes } from '../../src/formats/bytes.js';
import { DEFAULT_LIMITS } from '../../src/formats/limits.js';
import { GadgetTable } from '../../src/rules/gadgets.js';
import { GADGET_RULES, GlobalsPolicy, digestWithPolicy } from '../../src/static/pickle/policy.js';
import { scanBytes } from '../../src/static/scan.js';

/** A table in the shape `ltrack rules gadgets` writes, small enough to reason about. */
const TABLE = `
[header]
generator = "test"
image_recipe = "000000000000"
python = "3.13.0"
max_depth = 5
files = 3
modules = 3
callables = 10
gadgets = 5
aliases = 1
[header.counts]
process = 2
code = 1
native = 0
import = 0
file_write = 2
socket = 0

[gadgets]
"lib.shell._run_line" = { process = ["lib.shell._run_line", "os.system"] }
"lib.layers.Logger" = { file_write = ["lib.layers.Logger", "lib.layers.Logger.__init__", "builtins.open"] }
"lib.util.Helper.run" = { process = ["lib.util.Helper.run", "subprocess.Popen"], code = ["lib.util.Helper.run", "builtins.exec"] }
"tool.save" = { file_write = ["tool.save", "builtins.open"] }
"lib.shell.reviewed" = { file_write = ["lib.shell.reviewed", "builtins.open"] }

[aliases]
"lib.run_line" = "lib.shell._run_line"
`;

const table = GadgetTable.parse(TABLE, 'test-gadgets.toml');
const policy = (gadgets: GadgetTable | null = table) =>
  new GlobalsPolicy(
    {
      safe: { 'lib.shell': ['reviewed'], tool: ['*'] },
      safe_class_modules: { prefixes: ['lib.layers.'] },
      dangerous: { process: { rule: 'LT-PKL-001', why: 'runs a process', names: ['os.system', 'lib.util.*'] } },
    },
    'test',
    [],
    () => gadgets ?? undefined,
  );

const unicode = (s: string) => Buffer.concat([Buffer.from([0x8c, Buffer.byteLength(s)]), Buffer.from(s, 'latin1')]);
/** protocol 4: module.name('arg') via STACK_GLOBAL + REDUCE. */
const call = (module: string, name: string, arg: string) =>
  Buffer.concat([Buffer.from([0x80, 4]), unicode(module), unicode(name), Buffer.from([0x93]), unicode(arg), Buffer.from([0x85]), Buffer.from('R.', 'latin1')]);
const scan = (data: Buffer, p: GlobalsPolicy): Detection[] => {
  const out: Detection[] = [];
  scanBytes(new BufBytes(data), [], { file: 'x', limits: DEFAULT_LIMITS, policy: p, out });
  return out;
};

describe('gadget table: the policy classifies what its hand-written entries leave open', () => {
  it('a name off the allowlist that the table knows is dangerous, by its most severe capability, with the path', () => {
    const v = policy().classify('lib.shell', '_run_line');
    expect(v).toMatchObject({ kind: 'dangerous', rule: GADGET_RULES.process.rule, family: 'gadget:process', path: ['lib.shell._run_line', 'os.system'] });
    expect(policy().classify('lib.other', 'thing').kind).toBe('unknown');
  });

  it('the hand-written denylist wins over the table, an exact allow wins over it, a wildcard allow does not', () => {
    expect(policy().classify('lib.util', 'Helper.run')).toMatchObject({ rule: 'LT-PKL-001' });
    expect(policy().classify('lib.shell', 'reviewed').kind).toBe('safe');
    // tool.* and the lib.layers. class prefix admit names nobody reviewed one by one
    expect(policy().classify('tool', 'save')).toMatchObject({ kind: 'dangerous', rule: GADGET_RULES.file_write.rule });
    expect(policy().classify('lib.layers', 'Logger')).toMatchObject({ kind: 'dangerous', rule: GADGET_RULES.file_write.rule });
    expect(policy().classify('tool', 'load').kind).toBe('safe');
  });

  it('re-exports, dotted hops and protocol 4 chains reach the same gadget', () => {
    expect(policy().classify('lib', 'run_line')).toMatchObject({ rule: GADGET_RULES.process.rule });
    expect(table.get('lib.util.Helper.run')?.capability).toBe('process');
    expect(policy().classify('other', 'lib.shell._run_line')).toMatchObject({ rule: GADGET_RULES.process.rule });
  });

  it('without a table the policy is what it was: unknown stays unknown', () => {
    expect(policy(null).classify('lib.shell', '_run_line').kind).toBe('unknown');
    expect(policy(null).classify('tool', 'save').kind).toBe('safe');
  });

  it('a pickle calling a gadget is a finding with its capability, and the message carries the call path', () => {
    const found = scan(call('lib.shell', '_run_line', '/bin/true'), policy());
    expect(found.map((d) => d.ruleId)).toEqual([GADGET_RULES.process.rule]);
    expect(found[0]!.message).toContain('lib.shell._run_line -> os.system');
    expect(found[0]!.evidence).toMatchObject({ callable: 'lib.shell._run_line', invoked: true });
  });

  it('the table is pinned by the rule-set digest', () => {
    const other = GadgetTable.parse(TABLE.replace('"tool.save" = { file_write = ["tool.save", "builtins.open"] }\n', ''), 'other.toml');
    expect(digestWithPolicy('0'.repeat(64), policy())).not.toBe(digestWithPolicy('0'.repeat(64), policy(other)));
  });

  it('rejects a table with a capability it does not know or a path too short to be evidence', () => {
    expect(() => GadgetTable.parse(TABLE.replace('{ process = ["lib.shell._run_line", "os.system"] }', '{ launch = ["a", "b"] }'), 't').validate()).toThrow(/capability/);
    expect(() => GadgetTable.parse(TABLE.replace('{ process = ["lib.shell._run_line", "os.system"] }', '{ process = ["a"] }'), 't').validate()).toThrow(/call path/);
    expect(() => GadgetTable.parse(TABLE.replace('"lib.run_line" = "lib.shell._run_line"', '"lib.run_line" = "lib.nothing"'), 't').validate()).toThrow(/names no gadget/);
    expect(() => GadgetTable.parse(TABLE.replace('"tool.save" = {', 'tool.save = {'), 't')).toThrow(/line \d+ of \[gadgets\]/);
    expect(() => GadgetTable.parse(TABLE, 't').validate()).not.toThrow();
  });
});
