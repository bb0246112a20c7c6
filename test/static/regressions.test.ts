import { describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { projectPath } from '../../src/core/paths.js';
import { scanPaths } from '../../src/static/index.js';

/**
 * test/regressions: malformed and hostile files, each named RULE.what.ext by the finding it must
 * produce ("none." for none). Every one is scanned on every run: no exception, no hang, the finding.
 */
const DIR = projectPath('test', 'regressions');

describe('regression files', () => {
  it.each(readdirSync(DIR).filter((f) => !f.endsWith('.md')))('%s', async (name) => {
    const r = await scanPaths([join(DIR, name)]);
    const expected = name.split('.')[0]!;
    if (expected === 'none') expect(r.detections).toEqual([]);
    else expect(r.detections.map((d) => d.ruleId)).toContain(expected);
  });
});
