import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { scanPaths } from '../../src/static/index.js';
import { FIXTURES, fixtureIndex } from '../helpers/fixtures.js';

describe('static analysis of the bundled fixtures', () => {
  const index = fixtureIndex();

  it.each(index.filter((e) => e.kind === 'benign').map((e) => [e.file, e]))('benign %s: its format, no finding at all', async (_f, e) => {
    const r = await scanPaths([join(FIXTURES, e.file)]);
    expect(r.targets[0]!.format).toBe(e.format === 'pickle' || e.format === 'dill' || e.format === 'cloudpickle' ? 'pickle' : e.format);
    expect(r.detections).toEqual([]);
  });

  it.each(index.filter((e) => e.kind === 'malicious').map((e) => [e.file, e]))('malicious %s: the expected critical/high rule at an opcode offset', async (_f, e) => {
    const r = await scanPaths([join(FIXTURES, e.file)]);
    const hit = r.detections.find((d) => d.ruleId === e.rule);
    expect(hit, `expected ${e.rule} in ${r.detections.map((d) => d.ruleId).join(',')}`).toBeDefined();
    expect(hit!.location?.byteOffset).toBeTypeOf('number');
    expect(r.targets[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
  });
});
