import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, fixtureIndex } from '../helpers/fixtures.js';
import { loadUnchecked, ranTrue } from '../helpers/unchecked.js';

/**
 * The gadget fixtures really do what the table says when the image's own Python loads them with
 * ltrack's checks off: the library callable, handed a command line or Python source, runs
 * /bin/true. (That the static path blocks them is test/gadgets/fixtures.test.ts.)
 */
const PROCESS = ['gadgets/read_output.pkl', 'gadgets/collect_env_run.pkl', 'gadgets/run_python_script.pkl'];

describe('gadget fixtures: harmful when loaded unchecked', () => {
  it('the process fixtures are in the index', () => {
    const files = fixtureIndex()
      .filter((f) => f.generator === 'depth_gadgets')
      .map((f) => f.file);
    expect(files).toEqual(expect.arrayContaining(PROCESS));
  });

  it.each(PROCESS)(
    '%s runs /bin/true when loaded in the sandbox',
    async (file) => {
      const r = await loadUnchecked({ models: [{ hostPath: join(FIXTURES, file), format: 'pickle' }] });
      expect(ranTrue(r.events), r.sandbox.stderr.slice(-500)).toBe(true);
    },
    240_000,
  );
});
