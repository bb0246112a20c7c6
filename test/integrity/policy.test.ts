import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TraceEvent } from '../../src/core/event.js';
import type { Detection } from '../../src/core/finding.js';
import { BufBytes } from '../../src/formats/bytes.js';
import { DEFAULT_LIMITS } from '../../src/formats/limits.js';
import { memberData, readZip } from '../../src/formats/zip.js';
import { IMPORT_MAPPING, NAME_MAPPING, mapPython2Name } from '../../src/static/pickle/compat.js';
import { GlobalsPolicy, defaultPolicy, digestWithPolicy, withUserAllowlist } from '../../src/static/pickle/policy.js';
import { scanBytes } from '../../src/static/scan.js';
import { scanPaths } from '../../src/static/index.js';
import type { SandboxResult } from '../../src/sandbox/index.js';
import { loadResults, moduleResolved, settleUnknowns } from '../../src/vet/settle.js';
import type { PlanModel } from '../../src/vet/plan.js';
import { FIXTURES, fixtureIndex } from '../helpers/fixtures.js';
import { ltrack } from '../helpers/cli.js';
import { loadUnchecked, ranTrue } from '../helpers/unchecked.js';

const b = (...parts: (string | number[] | Buffer)[]) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));
const scan = (data: Buffer, policy = defaultPolicy()): Detection[] => {
  const out: Detection[] = [];
  scanBytes(new BufBytes(data), [], { file: 'x', limits: DEFAULT_LIMITS, policy, out });
  return out;
};
const ids = (data: Buffer, policy?: GlobalsPolicy) => [...new Set(scan(data, policy).map((d) => d.ruleId))].sort();
const unicode = (s: string) => b([0x8c, Buffer.byteLength(s)], s);
/** protocol 4: STACK_GLOBAL module.name called with one string argument, then STOP. */
const p4call = (module: string, name: string, arg: string) => b([0x80, 4], unicode(module), unicode(name), [0x93], unicode(arg), [0x85], 'R.');

const policyOf = (safe: Record<string, string[]>, extra: Record<string, unknown> = {}) =>
  new GlobalsPolicy(
    {
      safe,
      safe_class_modules: { prefixes: ['lib.layers.'] },
      dangerous: { process: { rule: 'LT-PKL-001', why: 'runs a process', names: ['os.system', 'subprocess.*'] }, code: { rule: 'LT-PKL-006', why: 'evaluates code', names: ['builtins.exec'] } },
      ...extra,
    },
    'test',
  );

describe('globals policy: dotted names resolve hop by hop', () => {
  const p = policyOf({ 'lib.*': ['*'], tool: ['*'], 'pkg.mod': ['Outer', 'Outer.Inner'] });

  it('a wildcard covers plain names, never a name with a dot', () => {
    expect(p.classify('lib.sub', 'Thing').kind).toBe('safe');
    expect(p.classify('tool', 'helper').kind).toBe('safe');
    expect(p.classify('tool', 'helper.attr').kind).toBe('unknown');
    expect(p.classify('lib.sub', 'Thing.method').kind).toBe('unknown');
  });

  it('a dotted name is safe only when every hop is listed exactly', () => {
    expect(p.classify('pkg.mod', 'Outer.Inner').kind).toBe('safe');
    expect(p.classify('pkg.mod', 'Outer.Other').kind).toBe('unknown');
    expect(p.classify('pkg.mod', 'Other.Inner').kind).toBe('unknown');
  });

  it('class modules cover CapWords plain names only', () => {
    expect(p.classify('lib.layers.dense', 'Dense').kind).toBe('safe');
    expect(policyOf({}).classify('lib.layers.dense', 'Dense.forward').kind).toBe('unknown');
  });

  it('a chain that reaches a dangerous object through any hop is that danger', () => {
    expect(p.classify('lib.sub', 'torch.os.system')).toMatchObject({ kind: 'dangerous', rule: 'LT-PKL-001' });
    expect(p.classify('tool', 'builtins.exec')).toMatchObject({ kind: 'dangerous', rule: 'LT-PKL-006' });
    expect(p.classify('tool', 'sp.subprocess.Popen')).toMatchObject({ kind: 'dangerous', rule: 'LT-PKL-001' });
    expect(p.classify('lib.sub', 'Thing.__init__.__globals__')).toMatchObject({ kind: 'dangerous', rule: 'LT-PKL-006' });
    // a plain name is matched as written: lib.os is lib's own module, not os
    expect(p.classify('lib.os', 'system').kind).toBe('safe');
  });

  it('property: under a wildcard, no dotted name is safe, and any chain ending in a dangerous name is dangerous', () => {
    const ident = fc.stringMatching(/^[a-z_][a-z0-9_]{0,6}$/);
    fc.assert(
      fc.property(fc.array(ident, { minLength: 1, maxLength: 4 }), fc.constantFrom('os.system', 'builtins.exec', 'subprocess.run'), (hops, tail) => {
        const kind = p.classify('tool', hops.join('.')).kind;
        if (hops.length === 1) expect(kind).toBe('safe');
        else expect(kind).not.toBe('safe');
        expect(p.classify('lib.sub', `${hops.join('.')}.${tail}`).kind).toBe('dangerous');
      }),
      { numRuns: 2000 },
    );
  });

  it('deserialisers are found through dotted names too', () => {
    const d = policyOf({}, { deserialisers: { 'pickle.loads': 'pickle', 'torch.load': 'content' } });
    expect(d.deserialiser('torch', 'load')).toBe('content');
    expect(d.deserialiser('lib.sub', 'pickle.loads')).toBe('pickle');
    expect(d.deserialiser('lib.sub', 'loads')).toBeUndefined();
  });

  it('the default policy: the wildcard-module chain of the issue is os.system, a dunder hop is code', () => {
    expect(defaultPolicy().classify('torch.nn.modules.linear', 'torch.os.system')).toMatchObject({ kind: 'dangerous', rule: 'LT-PKL-001' });
    expect(defaultPolicy().classify('torch.nn.modules.linear', 'Linear')).toMatchObject({ kind: 'safe' });
    expect(defaultPolicy().classify('torch.nn.modules.linear', 'Linear.__init__')).toMatchObject({ kind: 'dangerous', rule: 'LT-PKL-006' });
    expect(defaultPolicy().classify('collections', 'OrderedDict.fromkeys').kind).toBe('unknown');
  });
});

describe('globals policy: Python 2 names mapped as the unpickler maps them', () => {
  it('maps pairs first, then modules, and only below protocol 3', () => {
    expect(mapPython2Name('__builtin__', 'exec', 2)).toEqual({ module: 'builtins', name: 'exec' });
    expect(mapPython2Name('__builtin__', 'xrange', 0)).toEqual({ module: 'builtins', name: 'range' });
    expect(mapPython2Name('copy_reg', '_reconstructor', 1)).toEqual({ module: 'copyreg', name: '_reconstructor' });
    expect(mapPython2Name('__builtin__', 'exec', 3)).toEqual({ module: '__builtin__', name: 'exec' });
  });

  it("the tables equal the local python3's _compat_pickle", () => {
    const py = spawnSync(
      '/usr/bin/python3',
      ['-c', 'import _compat_pickle as c, json; print(json.dumps([sorted([m+"\\0"+n, list(v)] for (m,n),v in c.NAME_MAPPING.items()), sorted(c.IMPORT_MAPPING.items())]))'],
      { encoding: 'utf8' },
    );
    expect(py.status).toBe(0);
    const [names, imports] = JSON.parse(py.stdout) as [[string, [string, string]][], [string, string][]];
    expect([...NAME_MAPPING.entries()].map(([k, v]) => [k, [...v]]).sort()).toEqual(names);
    expect([...IMPORT_MAPPING.entries()].sort()).toEqual(imports);
  });

  it('__builtin__.exec is critical code execution at protocol 2, an unknown call at protocol 4', () => {
    const call = (proto: number) => b([0x80, proto], 'c__builtin__\nexec\n', unicode('pass'), [0x85], 'R.');
    expect(ids(call(2))).toEqual(['LT-PKL-006']);
    expect(ids(call(4))).toEqual(['LT-PKL-013']);
  });

  it('a protocol-0 copy_reg reconstruction of a known base is clean; an unknown base is called', () => {
    const rec = (base: string) => b('ccopy_reg\n_reconstructor\n(cmypkg\nNet\nc', base, '\nN', 'tR.');
    expect(ids(rec('__builtin__\nobject'))).toEqual(['LT-PKL-008']);
    expect(ids(rec('mypkg\nBase'))).toEqual(['LT-PKL-008', 'LT-PKL-013']);
  });
});

describe('unknown callables: called blocks, reconstructed waits for a load', () => {
  it('REDUCE on an unknown function blocks; NEWOBJ of an unknown class is settled by a load', () => {
    expect(ids(p4call('mypkg.tools', 'run_helper', 'true'))).toEqual(['LT-PKL-013']);
    // a helper of the image that the derived gadget table knows is classified by what it reaches
    expect(ids(p4call('uuid', '_get_command_stdout', 'true'))).toEqual(['LT-GDG-001']);
    const newobj = b([0x80, 4], unicode('mypkg'), unicode('Net'), [0x93], ')', [0x81], '.');
    const found = scan(newobj);
    expect(found.map((d) => d.ruleId)).toEqual(['LT-PKL-008']);
    expect(found[0]!.evidence).toMatchObject({ settle: 'load', invoked: false });
  });

  it('a call of an object computed at load time blocks', () => {
    // collections.OrderedDict() then REDUCE on its result
    expect(ids(b([0x80, 2], 'ccollections\nOrderedDict\n)R)R.'))).toEqual(['LT-PKL-013']);
  });

  it('a __setstate__ planted on an object makes the next BUILD call it', () => {
    const planted = b([0x80, 2], 'ccollections\nOrderedDict\n)R', '}', unicode('__setstate__'), 'cmypkg\nhook\ns', 'b', unicode('x'), 'b.');
    expect(ids(planted)).toEqual(['LT-PKL-013']);
  });

  it('a user allowlist admits a callable; it cannot un-deny one; its digest changes the rule-set digest', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ltrack-allow-'));
    const file = join(dir, 'allow.toml');
    writeFileSync(file, '[safe]\n"uuid" = ["_get_command_stdout"]\n"os" = ["system"]\n');
    const policy = withUserAllowlist(defaultPolicy(), file);
    expect(ids(p4call('uuid', '_get_command_stdout', 'true'), policy)).toEqual([]);
    expect(ids(p4call('os', 'system', '/bin/true'), policy)).toEqual(['LT-PKL-001']);
    expect(policy.sources.map((s) => s.file)).toEqual([...defaultPolicy().sources.map((s) => s.file), file]);
    const digest = digestWithPolicy('0'.repeat(64), policy);
    expect(digest).not.toBe(digestWithPolicy('0'.repeat(64), defaultPolicy()));
    writeFileSync(file, '[safe]\n"uuid" = ["UUID"]\n');
    expect(digestWithPolicy('0'.repeat(64), withUserAllowlist(defaultPolicy(), file))).not.toBe(digest);
    writeFileSync(file, '[safe]\n"uuid" = ["UUID"]\n[dangerous.x]\nrule = "LT-PKL-001"\n');
    expect(() => withUserAllowlist(defaultPolicy(), file)).toThrow(/one \[safe\] table/);
  });
});

describe('deserialisers: what they load is a nested candidate', () => {
  it('computed data handed to torch.storage._load_from_bytes blocks', () => {
    const computed = b([0x80, 2], 'ctorch.storage\n_load_from_bytes\n', 'ccollections\nOrderedDict\n)R', [0x85], 'R.');
    expect(ids(computed)).toEqual(['LT-PKL-014']);
  });

  it('a deserialiser called by a helper, or as a planted __setstate__, is still followed', () => {
    expect(ids(b([0x80, 2], 'ctorch._tensor\n_rebuild_from_type_v2\n(ctorch.storage\n_load_from_bytes\nctorch\nTensor\n', [0x43, 1], 'x', [0x85], 'NtR.'))).toEqual(['LT-PKL-014']);
    const inner = b('cos\nsystem\n', unicode('/bin/true'), [0x85], 'R.');
    const planted = b([0x80, 2], 'ccollections\nOrderedDict\n)R', '}', unicode('__setstate__'), 'cpickle\nloads\ns', 'b', [0x43, inner.length], inner, 'b.');
    expect(ids(planted)).toContain('LT-PKL-001');
  });

  it('a pickle in bytes handed to pickle.loads is analysed and located inside', () => {
    const inner = b('cos\nsystem\n', unicode('/bin/true'), [0x85], 'R.');
    const outer = b([0x80, 2], 'cpickle\nloads\n', [0x43, inner.length], inner, [0x85], 'R.');
    const hit = scan(outer).find((d) => d.ruleId === 'LT-PKL-001');
    expect(hit?.location?.entry?.[0]).toMatch(/^nested@/);
  });

  it('the fixture: a torch checkpoint inside _load_from_bytes is scanned by content down to its data.pkl', () => {
    const found = scan(readFileSync(join(FIXTURES, 'policy', 'load_from_bytes.pkl')));
    const hit = found.find((d) => d.ruleId === 'LT-PKL-001');
    expect(hit?.location?.entry).toEqual([expect.stringMatching(/^nested@\d+$/), 'archive/data.pkl']);
  });
});

describe('containers: irregularities the loader reads past are analysed past', () => {
  it.each([
    ['bzip2', 'ZIP_BZIP2'],
    ['LZMA', 'ZIP_LZMA'],
  ])('a %s zip member (Python zipfile reads it) is unpacked and analysed', (_name, method) => {
    const script = `import io, sys, zipfile\nb = io.BytesIO()\nwith zipfile.ZipFile(b, "w", zipfile.${method}) as z: z.writestr("arr.pkl", b"cos\\nsystem\\n(S'/bin/true'\\ntR.")\nsys.stdout.buffer.write(b.getvalue())`;
    const py = spawnSync('/usr/bin/python3', ['-c', script]);
    expect(py.status, py.stderr.toString()).toBe(0);
    expect(ids(py.stdout)).toEqual(['LT-PKL-001']);
  });

  it('a Keras HDF5 model_config nested below the bound blocks too (LT-KERAS-003), with the offset where it goes too deep', () => {
    let node: unknown = { class_name: 'Lambda', config: { name: 'hidden' } };
    for (let i = 0; i < 80; i++) node = { class_name: 'Wrapper', config: { layer: node } };
    const json = JSON.stringify({ class_name: 'Sequential', config: { layers: [node] } });
    const h5 = b([0x89], 'HDF\r\n', [0x1a], '\n', Buffer.alloc(64), 'model_config', Buffer.alloc(8), json);
    const hit = scan(h5).find((d) => d.ruleId === 'LT-KERAS-003');
    expect(hit?.location?.byteOffset).toBeGreaterThan(h5.indexOf('{"class_name"'));
  });

  it('a member with a wrong CRC comes with its data and the problem', () => {
    const data = readFileSync(join(FIXTURES, 'policy', 'bad_crc_checkpoint.pt'));
    const bytes = new BufBytes(data);
    const zip = readZip(bytes, DEFAULT_LIMITS);
    const member = zip.entries.find((e) => e.name.endsWith('data.pkl'))!;
    const got = memberData(bytes, member, DEFAULT_LIMITS);
    expect('data' in got && got.problems.map((p) => p.ruleId)).toEqual(['LT-ZIP-003']);
    expect(ids(data)).toEqual(['LT-PKL-001', 'LT-ZIP-003']);
  });
});

describe('settling unknown classes by a completed load', () => {
  const d = (file: string, callable: string): Detection => ({
    ruleId: 'LT-PKL-008',
    source: 'static',
    phase: 'static',
    message: '',
    evidence: { callable, settle: 'load', module: callable.split('.').slice(0, -1).join('.') },
    location: { file },
  });
  // the kernel's account that mypkg was resolved: its module opened during the load
  const events = [{ kind: 'file_open', phase: 'load', ret: 3, flags: 0, path: '/usr/lib/python3/dist-packages/mypkg/__init__.py' }] as unknown as TraceEvent[];
  const models: PlanModel[] = [
    { hostPath: '/stage/1/a.pt', format: 'torch-zip', reportPaths: ['/m/a.pt'] },
    { hostPath: '/stage/2/b.pkl', format: 'pickle', reportPaths: ['/m/b.pkl'] },
  ];
  const sandbox = (results: unknown): SandboxResult => ({ phases: [{ phase: 'load', startNs: 0, endNs: 1, ok: true, detail: { models: results } }] }) as unknown as SandboxResult;
  const ok = [
    { path: '/candidate/a.pt', format: 'torch-zip', ok: true },
    { path: '/candidate/b.pkl', format: 'pickle', ok: false, error: "ModuleNotFoundError: No module named 'torch._dynamo'" },
  ];

  it('a completed load settles; a failed one, or none at all, is incomplete and names --deps', () => {
    const dets = [d('/m/a.pt', 'mypkg.Net'), d('/m/b.pkl', 'torch._dynamo.eval_frame.OptimizedModule')];
    const reasons = settleUnknowns(dets, { sandbox: sandbox(ok), models, events });
    expect(reasons).toHaveLength(1);
    expect(reasons[0]).toMatch(/^\/m\/b\.pkl: .*OptimizedModule.*ModuleNotFoundError.*--deps/);
    expect(settleUnknowns(dets, undefined).every((r) => /--static-only.*--deps/.test(r))).toBe(true);
    expect(settleUnknowns([], undefined)).toEqual([]);
  });

  it('a failed load of a file with any static finding is not a pass either', () => {
    const limit: Detection = { ruleId: 'LT-LIM-001', source: 'static', phase: 'static', message: '', evidence: {}, location: { file: '/m/b.pkl' } };
    expect(settleUnknowns([limit], { sandbox: sandbox(ok), models, events })).toEqual([expect.stringMatching(/^\/m\/b\.pkl: its sandboxed load failed .*LT-LIM-001/)]);
    expect(settleUnknowns([{ ...limit, location: { file: '/m/a.pt' } }], { sandbox: sandbox(ok), models, events })).toEqual([]);
  });

  it('results that do not line up with the plan settle nothing', () => {
    expect(loadResults(sandbox(ok.slice(0, 1)), models).size).toBe(0);
    expect(loadResults(sandbox([ok[1], ok[0]]), models).size).toBe(0);
    expect(settleUnknowns([d('/m/a.pt', 'x.Y')], { sandbox: sandbox('forged'), models, events })).toHaveLength(1);
  });

  it("a record that the load completed is not enough: the kernel must have seen the class's module resolved", () => {
    // a dependency running in the sandbox can write the harness's record; it cannot make an installed module look opened
    const reasons = settleUnknowns([d('/m/a.pt', 'otherpkg.Net')], { sandbox: sandbox(ok), models, events });
    expect(reasons).toEqual([expect.stringMatching(/^\/m\/a\.pt: the sandbox reported its load completed, but the kernel saw no module file of otherpkg opened/)]);
  });
});

describe('moduleResolved: the kernel saw a module file opened before the load ended', () => {
  const open = (path: string, extra: Partial<TraceEvent> = {}) => ({ kind: 'file_open', phase: 'load', ret: 3, flags: 0, path, ...extra }) as TraceEvent;
  it('source, package __init__, cached bytecode and extensions count', () => {
    expect(moduleResolved('a.b', [open('/usr/lib/python3/dist-packages/a/b.py')])).toBe(true);
    expect(moduleResolved('a.b', [open('/usr/lib/python3/dist-packages/a/b/__init__.py')])).toBe(true);
    expect(moduleResolved('a.b', [open('/usr/lib/python3/dist-packages/a/__pycache__/b.cpython-313.pyc')])).toBe(true);
    expect(moduleResolved('a.b', [open('/usr/lib/python3/dist-packages/a/b/__pycache__/__init__.cpython-313.opt-1.pyc')])).toBe(true);
    expect(moduleResolved('a.b', [open('/usr/lib/python3/dist-packages/a/b.cpython-313-x86_64-linux-gnu.so')])).toBe(true);
    expect(moduleResolved('top', [open('/tmp/ltrack/prefix/lib/python3.13/site-packages/__pycache__/top.cpython-313.pyc')])).toBe(true);
  });
  it('another module, a failed open, an open after the load, a non-identifier name do not', () => {
    expect(moduleResolved('a.b', [open('/usr/lib/python3/dist-packages/a/bc.py'), open('/usr/lib/python3/dist-packages/xa/b.py')])).toBe(false);
    expect(moduleResolved('a.b', [open('/usr/lib/python3/dist-packages/a/b.py', { ret: -2 })])).toBe(false);
    expect(moduleResolved('a.b', [open('/usr/lib/python3/dist-packages/a/b.py', { phase: 'probe' })])).toBe(false);
    expect(moduleResolved('a.b/../c', [open('/x/a/b/../c.py')])).toBe(false);
    expect(moduleResolved('', [open('/x/.py')])).toBe(false);
  });
  it('a module file the candidate wrote after the install phase is its own word, not evidence', () => {
    const forged = '/tmp/a/b.py';
    expect(moduleResolved('a.b', [open(forged, { flags: 0o101, phase: 'load' }), open(forged)])).toBe(false);
    expect(moduleResolved('a.b', [open(forged, { op: 'rename', phase: 'import' }), open(forged)])).toBe(false);
    // pip writes a dependency's modules during install: those count
    expect(moduleResolved('a.b', [open(forged, { flags: 0o101, phase: 'install' }), open(forged)])).toBe(true);
  });
});

const ours = () => fixtureIndex().filter((f) => f.generator === 'integrity_policy');

describe('integrity fixtures (policy): harmful when loaded unchecked, blocked by ltrack vet', () => {
  it('there is one per class', () => {
    expect(
      ours()
        .map((f) => f.file)
        .sort(),
    ).toEqual(['policy/bad_crc_checkpoint.pt', 'policy/builtin_exec_proto2.pkl', 'policy/deep_lambda.keras', 'policy/dotted_chain.pkl', 'policy/load_from_bytes.pkl', 'policy/unknown_helper.pkl']);
  });

  it.each(ours().map((f) => [f.file, f.rule, f.format] as const))('%s: static analysis finds %s', async (file, rule) => {
    const r = await scanPaths([join(FIXTURES, file)]);
    expect(r.detections.map((x) => x.ruleId)).toContain(rule);
  });

  it.each(ours().map((f) => [f.file] as const))('%s: ltrack vet --static-only exits 1', (file) => {
    const r = ltrack(['vet', '--static-only', '--format', 'json', join(FIXTURES, file)]);
    expect(r.code, r.stderr).toBe(1);
    expect((JSON.parse(r.stdout) as { verdict: { status: string } }).verdict.status).toBe('block');
  });

  it.each(
    ours()
      .filter((f) => f.format !== 'keras')
      .map((f) => [f.file, f.format] as const),
  )(
    '%s: runs /bin/true when loaded in the sandbox with the checks off',
    async (file, format) => {
      const r = await loadUnchecked({ models: [{ hostPath: join(FIXTURES, file), format }] });
      expect(ranTrue(r.events)).toBe(true);
    },
    180_000,
  );

  it('a full vet (sandbox and tracer) of all of them exits 1, each file with its blocking finding', () => {
    const r = ltrack(['vet', '--format', 'json', ...ours().map((f) => join(FIXTURES, f.file))]);
    expect(r.code, r.stderr).toBe(1);
    const report = JSON.parse(r.stdout) as { findings: { ruleId: string; severity: string; location?: { file: string } }[]; rulesetDigest: string; globalsPolicy: { sha256: string }[] };
    for (const f of ours()) {
      const blocking = report.findings.filter((x) => x.location?.file === join(FIXTURES, f.file) && ['high', 'critical'].includes(x.severity)).map((x) => x.ruleId);
      expect(blocking, f.file).toContain(f.rule);
    }
    expect(report.globalsPolicy).toHaveLength(1);
  }, 600_000);
});

describe('an unknown class the sandbox cannot resolve leaves the vet incomplete, never pass', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ltrack-settle-'));
  const file = join(dir, 'compiled.pkl');
  // a transformers model class — production has transformers, the sandbox image does not: NEWOBJ, then STOP
  writeFileSync(file, b([0x80, 2], 'ctransformers.modeling_utils\nPreTrainedModel\n)', [0x81], '.'));

  it('--static-only: exit 3, the reason names --deps', () => {
    const r = ltrack(['vet', '--static-only', '--format', 'json', file]);
    expect(r.code, r.stderr).toBe(3);
    const report = JSON.parse(r.stdout) as { verdict: { status: string; reasons: string[] } };
    expect(report.verdict.reasons.join('\n')).toMatch(/PreTrainedModel.*--static-only.*--deps/);
  });

  it('with the sandbox: the load fails with ModuleNotFoundError, exit 3', () => {
    const r = ltrack(['vet', '--format', 'json', file]);
    expect(r.code, r.stderr).toBe(3);
    const report = JSON.parse(r.stdout) as { verdict: { reasons: string[] } };
    expect(report.verdict.reasons.join('\n')).toMatch(/PreTrainedModel.*load failed.*ModuleNotFoundError.*--deps/);
  }, 300_000);

  it('--allow-globals admits it: the digest of the file is in the report and the rule-set digest', () => {
    const allow = join(dir, 'allow.toml');
    writeFileSync(allow, '[safe]\n"transformers.modeling_utils" = ["PreTrainedModel"]\n');
    const plain = JSON.parse(ltrack(['vet', '--static-only', '--format', 'json', join(FIXTURES, 'benign', 'data.pkl')]).stdout) as { rulesetDigest: string };
    const r = ltrack(['vet', '--static-only', '--format', 'json', '--allow-globals', allow, file]);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { rulesetDigest: string; globalsPolicy: { file: string; sha256: string }[] };
    expect(report.globalsPolicy.at(-1)).toMatchObject({ file: allow, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) as string });
    expect(report.rulesetDigest).not.toBe(plain.rulesetDigest);
    expect(ltrack(['rules', 'lint']).stdout).toContain(`as a vet records it, ${plain.rulesetDigest}`);
    expect(ltrack(['vet', '--static-only', '--allow-globals', join(dir, 'missing.toml'), file]).code).toBe(2);
  });
});
