import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BufBytes, Cursor } from '../../src/formats/bytes.js';
import { DEFAULT_LIMITS, resolveLimits } from '../../src/formats/limits.js';
import { runPickle } from '../../src/static/pickle/interpreter.js';
import { analysePickle } from '../../src/static/pickle/analyse.js';
import { defaultPolicy } from '../../src/static/pickle/policy.js';
import { scanBytes } from '../../src/static/scan.js';
import type { Detection } from '../../src/core/finding.js';

const b = (...parts: (string | number[] | Buffer)[]) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));
const run = (buf: Buffer, limits = DEFAULT_LIMITS) => runPickle(new Cursor(new BufBytes(buf)), limits);
const detections = (buf: Buffer): Detection[] => {
  const out: Detection[] = [];
  scanBytes(new BufBytes(buf), [], { file: 'x.pkl', limits: DEFAULT_LIMITS, policy: defaultPolicy(), out });
  return out;
};
const ids = (buf: Buffer) => detections(buf).map((d) => d.ruleId);

describe('pickle interpreter: imports and invocations', () => {
  it('protocol 0 GLOBAL + REDUCE records the callable, the call and its constant argument', () => {
    const r = run(b("cos\nsystem\n(S'/bin/true'\ntR."));
    expect(r.stopped).toBe(true);
    expect(r.imports).toEqual([{ module: 'os', name: 'system', protocol: 0, offset: 0, opcode: 'GLOBAL' }]);
    expect(r.calls[0]!.how).toBe('REDUCE');
    expect(ids(b("cos\nsystem\n(S'/bin/true'\ntR."))).toEqual(['LT-PKL-001']);
  });

  it('STACK_GLOBAL resolves operands from the memo (protocol 4)', () => {
    // module and name pushed, memoized, fetched back with BINGET, then STACK_GLOBAL
    const p = b([0x80, 4], [0x8c, 10], 'subprocess', [0x94], [0x8c, 5], 'Popen', [0x94], '0', '0', 'h', [0], 'h', [1], [0x93], ')', 'R', '.');
    const r = run(p);
    expect(r.imports.map((i) => `${i.module}.${i.name}`)).toEqual(['subprocess.Popen']);
    expect(ids(p)).toEqual(['LT-PKL-001']);
  });

  it('a STACK_GLOBAL whose operands are not constant strings is a dynamic import', () => {
    const p = b([0x80, 4], 'cbuiltins\nstr\n', ')', 'R', [0x8c, 1], 'x', [0x93], '.');
    expect(ids(p)).toContain('LT-PKL-006');
  });

  it('INST, OBJ, NEWOBJ and BUILD are invocations too', () => {
    expect(run(b("(S'ls'\nios\nsystem\n.")).calls[0]!.how).toBe('INST');
    expect(run(b("(cos\nsystem\nS'ls'\no.")).calls[0]!.how).toBe('OBJ');
    expect(run(b([0x80, 2], 'cos\nsystem\n', ')', [0x81], '.')).calls[0]!.how).toBe('NEWOBJ');
    expect(run(b([0x80, 2], 'ccollections\nOrderedDict\n', ')', 'R', '}', 'b', '.')).calls.map((c) => c.how)).toEqual(['REDUCE', 'BUILD']);
  });

  it('a __setstate__ planted by one BUILD is the callable the next BUILD invokes', () => {
    // argparse.Namespace(); BUILD (None, {'__setstate__': os.system}); BUILD '/bin/true'
    const p = b([0x80, 2], 'cargparse\nNamespace\n)R', 'N}', [0x58, 12, 0, 0, 0], '__setstate__', 'cos\nsystem\n', 's', [0x86], 'b', [0x58, 9, 0, 0, 0], '/bin/true', 'b.');
    const r = run(p);
    expect(r.stopped).toBe(true);
    const call = r.calls.find((c) => c.how === 'BUILD' && c.fn.t === 'global');
    expect(call?.fn).toMatchObject({ t: 'global', module: 'os', name: 'system' });
    expect(call?.args).toEqual({ t: 'str', v: '/bin/true' });
    const hit = detections(p).find((d) => d.ruleId === 'LT-PKL-001');
    expect(hit?.evidence).toMatchObject({ invoked: true });
  });

  it('open() for writing is a write, for reading a read', () => {
    expect(ids(b("cbuiltins\nopen\n(S'/tmp/x'\nS'w'\ntR."))).toEqual(['LT-PKL-005']);
    expect(ids(b("cbuiltins\nopen\n(S'/etc/passwd'\ntR."))).toEqual(['LT-PKL-004']);
  });

  it('allowlisted globals pass; unknown ones are medium when reconstructed (NEWOBJ), blocking when called (REDUCE)', () => {
    expect(ids(b([0x80, 2], 'ccollections\nOrderedDict\n', ')', 'R', '.'))).toEqual([]);
    expect(ids(b([0x80, 2], 'cmypkg.models\nNet\n)', [0x81], '.'))).toEqual(['LT-PKL-008']);
    expect(ids(b('cmypkg.models\nNet\n)R.'))).toEqual(['LT-PKL-013']);
  });

  it('indirect gadgets that denylists miss are critical', () => {
    for (const g of [
      'timeit\ntimeit',
      'cProfile\nrun',
      'pydoc\npipepager',
      'operator\nmethodcaller',
      'functools\npartial',
      'pkgutil\nresolve_name',
      'code\nInteractiveInterpreter',
      'doctest\ndebug_script',
    ]) {
      expect(ids(b(`c${g}\n)R.`)), g).toContain('LT-PKL-007');
    }
  });

  it('follows a pickle nested in bytes handed to pickle.loads, through zlib', async () => {
    const { deflateSync } = await import('node:zlib');
    const inner = b("cos\nsystem\n(S'true'\ntR.");
    const z = deflateSync(inner);
    const outer = b([0x80, 3], 'cpickle\nloads\n', 'czlib\ndecompress\n', 'C', [z.length], z, [0x85], 'R', [0x85], 'R', '.');
    const d = detections(outer);
    const nested = d.find((x) => x.ruleId === 'LT-PKL-001');
    expect(nested?.location?.entry?.[0]).toMatch(/^nested@/);
    expect(d.map((x) => x.ruleId)).toContain('LT-PKL-006'); // pickle.loads itself
  });

  it('a payload followed by garbage keeps the payload and reports the malformation', () => {
    const d = ids(b("cos\nsystem\n(S'true'\ntR", [0xff, 0xfe]));
    expect(d).toEqual(['LT-PKL-001', 'LT-PKL-009']);
  });

  it('a second pickle in the same stream is analysed too', () => {
    expect(ids(b([0x80, 2], 'N.', "cos\nsystem\n(S'true'\ntR."))).toEqual(['LT-PKL-001']);
  });

  it('limits end the run as a finding, not an exception', () => {
    const limits = resolveLimits({ maxPickleStack: 8 });
    const r = run(b('(((((((((((((N.'), limits);
    expect(r.error?.limit).toBe(true);
    const out = analysePickle(r, { file: 'x', entry: [], base: 0, policy: defaultPolicy(), limits, depth: 0 });
    expect(out.map((x) => x.ruleId)).toEqual(['LT-LIM-001']);
  });
});

describe('pickle interpreter: robustness (property tests)', () => {
  it('never throws and always terminates on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        const r = run(Buffer.from(bytes));
        expect(r.end).toBeLessThanOrEqual(bytes.length);
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws on mutated real pickles (including scanBytes over containers)', () => {
    const seed = b([0x80, 4, 0x95], Buffer.alloc(8), [0x8c, 11], 'collections', [0x94, 0x8c, 11], 'OrderedDict', [0x94, 0x93, 0x94], ')', 'R', [0x94], '(', [0x8c, 1], 'a', 'K', [1], 'u', '.');
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(seed.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }), (muts) => {
        const m = Buffer.from(seed);
        for (const [i, v] of muts) m[i] = v;
        detections(m);
      }),
      { numRuns: 2000 },
    );
  });
});
