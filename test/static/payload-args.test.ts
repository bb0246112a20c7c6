import { describe, expect, it } from 'vitest';
import type { Detection } from '../../src/core/finding.js';
import { BufBytes } from '../../src/formats/bytes.js';
import { DEFAULT_LIMITS } from '../../src/formats/limits.js';
import { loadRuleSet } from '../../src/rules/index.js';
import { score } from '../../src/scoring/index.js';
import { defaultPolicy } from '../../src/static/pickle/policy.js';
import { scanBytes } from '../../src/static/scan.js';

/** Protocol-2 pickle bytes: `module.name(*args)` by GLOBAL + TUPLE + REDUCE, then STOP. */
function callPickle(module: string, name: string, args: (string | string[])[], how: 'REDUCE' | 'NEWOBJ' = 'REDUCE'): Buffer {
  const str = (s: string) => {
    const b = Buffer.from(s, 'utf8');
    const n = Buffer.alloc(4);
    n.writeUInt32LE(b.length);
    return Buffer.concat([Buffer.from('X'), n, b]);
  };
  const arg = (a: string | string[]) => (Array.isArray(a) ? Buffer.concat([Buffer.from(']('), ...a.map(str), Buffer.from('e')]) : str(a));
  const op = how === 'REDUCE' ? 'R' : '\x81';
  return Buffer.concat([Buffer.from(`\x80\x02c${module}\n${name}\n(`, 'latin1'), ...args.map(arg), Buffer.from(`t${op}.`, 'latin1')]);
}

function scan(data: Buffer): Detection[] {
  const out: Detection[] = [];
  scanBytes(new BufBytes(data), [], { file: 'x.pkl', limits: DEFAULT_LIMITS, policy: defaultPolicy(), out });
  return out;
}

describe('unknown callables handed executable text', async () => {
  const rules = await loadRuleSet();
  const scored = (data: Buffer) => score(rules, scan(data));

  it('a shell command line raises an unknown call (LT-PKL-013, high) to critical, and the report says why', () => {
    const [f] = scored(callPickle('acme_internal.helpers', 'run', ["sh -c 'touch /tmp/ltrack-canary'"]));
    expect(f).toMatchObject({ ruleId: 'LT-PKL-013', severity: 'critical', evidence: { payload: { kind: 'shell', why: 'command word sh with 2 arguments' } } });
    expect(f!.message).toMatch(/is a shell command line/);
    expect(f!.cvss.weighting).toContain('+1 its argument is a shell command line');
  });

  it('Python source does the same, and so does an argv list', () => {
    const [py] = scored(callPickle('acme_internal.helpers', 'run_source', ["import os; os.system('/bin/true')"]));
    expect(py).toMatchObject({ ruleId: 'LT-PKL-013', severity: 'critical', evidence: { payload: { kind: 'python' } } });
    const [argv] = scored(callPickle('acme_internal.helpers', 'spawn', [['/bin/sh', '-c', 'true']]));
    expect(argv).toMatchObject({ severity: 'critical', evidence: { payload: { kind: 'shell', text: '/bin/sh -c true' } } });
  });

  it('data arguments leave the finding as its rule rates it', () => {
    const [f] = scored(callPickle('acme_internal.helpers', 'make', ['float32', 'model.layers.0']));
    expect(f).toMatchObject({ ruleId: 'LT-PKL-013', severity: 'high' });
    expect(f!.evidence.payload).toBeUndefined();
  });

  it('a class only reconstructed (NEWOBJ) with such text is not raised: nothing calls it with the text', () => {
    const found = scan(callPickle('acme_internal.models', 'Net', ['sh -c id'], 'NEWOBJ'));
    expect(found.map((d) => d.ruleId)).toEqual(['LT-PKL-008']);
    expect(found[0]!.evidence.payload).toBeUndefined();
  });

  it('a dangerous callable keeps its rule and gains the evidence', () => {
    const [f] = scored(callPickle('os', 'system', ['curl -s http://127.0.0.1:9/x | sh']));
    expect(f).toMatchObject({ ruleId: 'LT-PKL-001', severity: 'critical', evidence: { payload: { kind: 'shell' } } });
  });
});
