import { cp, mkdtemp, readdir, rm, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_RULES_DIR, loadRuleSet } from '../../src/rules/index.js';

/**
 * The rule-set digest is what a signed manifest pins: it must change when any file of the rules
 * folder changes, the pickle globals table and other data beside the rule files included.
 */
describe('the rule-set digest', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ltrack-rules-'));
  afterAll(() => rm(dir, { recursive: true, force: true }));
  const copy = async (name: string) => {
    const to = join(dir, name);
    await cp(DEFAULT_RULES_DIR, to, { recursive: true });
    return to;
  };
  const original = (await loadRuleSet()).digest;

  it('is the same for a byte-identical copy of the folder', async () => {
    expect((await loadRuleSet(await copy('same'))).digest).toBe(original);
  });

  it.each((await readdir(DEFAULT_RULES_DIR)).sort())('changes when %s changes', async (name) => {
    const changed = await copy(`edit-${name}`);
    await appendFile(join(changed, name), '\n# edited\n');
    expect((await loadRuleSet(changed)).digest).not.toBe(original);
  });

  it('changes when a file is added beside the rules', async () => {
    const added = await copy('added');
    await writeFile(join(added, 'extra-allowlist.txt'), 'numpy\n');
    expect((await loadRuleSet(added)).digest).not.toBe(original);
  });
});
