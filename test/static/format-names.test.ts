import { describe, expect, it } from 'vitest';
import { projectPath } from '../../src/core/paths.js';
import { FORMATS, LOADABLE_FORMATS } from '../../src/core/formats.js';
import { runPython } from '../helpers/python.js';

/**
 * The format names are one list (src/core/formats.ts): the static engine names a file's content
 * with it, the plan asks the harness for a loader by it, and the harness's LOADERS table
 * (sandbox/lth/loaders.py) is keyed by it. The harness's table is read by importing it with the
 * sandbox image's python, the interpreter that runs it.
 */
const KEYS = `
import json, sys
sys.path.insert(0, "/sandbox")
from lth.loaders import LOADERS
print(json.dumps(sorted(LOADERS)))
`;

describe('format names', () => {
  it('loaders.py has a loader for exactly the loadable formats, under the same names', async () => {
    const keys = JSON.parse(await runPython('image', KEYS, { '/sandbox': projectPath('sandbox') })) as string[];
    expect(keys).toEqual([...LOADABLE_FORMATS].sort());
  });

  it('names each format once (a loadable format is not also listed as unloaded)', () => {
    expect(FORMATS.filter((f, i) => FORMATS.indexOf(f) !== i)).toEqual([]);
  });
});
