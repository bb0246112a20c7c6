import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, fixtureIndex } from '../helpers/fixtures.js';
import { loadUnchecked, ranTrue } from '../helpers/unchecked.js';

/**
 * The depth_static fixtures are real payloads, not just files the static path flags: loaded in
 * the sandbox with no static gate and no rules (the tracer watching), each runs /bin/true — the
 * helpers on no list through the command line and the Python source they are handed, and the
 * FRAME-straddling checkpoint through torch.load's file reader, which the bytes view never shows.
 * (payload.7z has no loader: its member is the os.system pickle every other test proves.)
 */
describe('depth_static fixtures do what they say when loaded unchecked', () => {
  const rows = fixtureIndex().filter((e) => e.generator === 'depth_static' && e.format !== '7z');
  it('the module wrote its loadable fixtures', () => {
    expect(rows.map((e) => e.file).sort()).toEqual(['depth_static/frame_straddle.pt', 'depth_static/python_source_helper.pkl', 'depth_static/shell_helper.pkl']);
  });
  it.each(rows.map((e) => [e.file, e] as const))(
    '%s runs /bin/true',
    async (file, e) => {
      const r = await loadUnchecked({ models: [{ hostPath: join(FIXTURES, file), format: e.format === 'torch-zip' ? 'torch-zip' : 'pickle' }] });
      expect(ranTrue(r.events), JSON.stringify(r.sandbox.phases.find((p) => p.phase === 'load')?.detail ?? {})).toBe(true);
    },
    300_000,
  );
});
