import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import { GADGETS_FILE, defaultGadgets } from '../../src/rules/gadgets.js';
import { recipeDigest } from '../../src/sandbox/recipe.js';
import { GADGET_RULES, defaultPolicy } from '../../src/static/pickle/policy.js';
import { scanPaths } from '../../src/static/index.js';
import { FIXTURES, fixtureIndex, type IndexEntry } from '../helpers/fixtures.js';
import { ltrack } from '../helpers/cli.js';

/**
 * The fixtures of fixtures/gen/depth_gadgets.py against the bundled gadget table: library
 * callables on no hand-written list, found statically with the capability they reach and the
 * call path that shows it. No sandbox: this is what `--static-only` and runners without BPF see.
 */
const ours = () => fixtureIndex().filter((f) => f.generator === 'depth_gadgets') as (IndexEntry & { callable: string })[];

describe('the bundled gadget table', () => {
  it('was derived from the current image recipe, and counts what it lists', async () => {
    const t = defaultGadgets();
    expect(t.header.image_recipe).toBe(await recipeDigest());
    expect(t.size).toBe(t.header.gadgets);
    expect(Object.values(t.header.counts).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(t.size);
  });

  it('is TOML: the TOML library reads the same entries and aliases as the line reader', () => {
    const doc = parseToml(readFileSync(GADGETS_FILE, 'utf8')) as { gadgets: Record<string, Record<string, string[]>>; aliases: Record<string, string> };
    const t = defaultGadgets();
    t.validate();
    expect(Object.keys(doc.gadgets)).toHaveLength(t.size);
    for (const [name, paths] of Object.entries(doc.gadgets)) expect(t.get(name)?.paths, name).toEqual(paths);
    // an alias resolves to its target (or to the name's own entry, when a module also defines one)
    for (const [alias, target] of Object.entries(doc.aliases)) expect([alias, target], alias).toContain(t.get(alias)?.callable);
  });

  it("lists the issue's classes: stdlib command helpers, ML test utilities, logging handlers, ctypes loaders", () => {
    const t = defaultGadgets();
    expect(t.get('_osx_support._read_output')?.paths.process?.at(-1)).toBe('os.system');
    expect(t.get('uuid._get_command_stdout')?.capability).toBe('process');
    expect(t.get('torch.utils.collect_env.run')?.capability).toBe('process');
    expect(t.get('sklearn.utils._testing.assert_run_python_script_without_output')?.paths.process).toBeDefined();
    expect(t.get('logging.FileHandler')?.paths.file_write).toBeDefined();
    expect(t.get('numpy.ctypeslib.load_library')?.paths.native).toBeDefined();
    expect(t.get('code.InteractiveInterpreter.runsource')?.paths.code).toBeDefined();
  });

  it('does not flag the allowlisted rebuild helpers that benign checkpoints use', () => {
    const p = defaultPolicy();
    for (const [m, n] of [
      ['torch._utils', '_rebuild_tensor_v2'],
      ['collections', 'OrderedDict'],
      ['numpy.core.multiarray', '_reconstruct'],
      ['torch', 'FloatStorage'],
      ['sklearn.linear_model._logistic', 'LogisticRegression'],
    ] as const) {
      expect(p.classify(m, n), `${m}.${n}`).toEqual({ kind: 'safe' });
    }
  });
});

describe('gadget fixtures: found statically, with capability and call path', () => {
  it('there is one per class', () => {
    expect(
      ours()
        .map((f) => f.file)
        .sort(),
    ).toEqual(['gadgets/collect_env_run.pkl', 'gadgets/ctypes_loader.pkl', 'gadgets/file_handler.pkl', 'gadgets/read_output.pkl', 'gadgets/run_python_script.pkl']);
  });

  it.each(ours().map((f) => [f.file, f.rule, f.callable] as const))('%s: %s, and the message shows the path from %s', async (file, rule, callable) => {
    const r = await scanPaths([join(FIXTURES, file)]);
    const hit = r.detections.find((d) => d.ruleId === rule);
    expect(hit, JSON.stringify(r.detections.map((d) => d.ruleId))).toBeDefined();
    expect(hit!.evidence).toMatchObject({ callable, invoked: true });
    const gadget = defaultGadgets().get(callable)!;
    expect(GADGET_RULES[gadget.capability].rule).toBe(rule);
    expect(hit!.message).toContain(gadget.paths[gadget.capability]!.join(' -> '));
  });

  it.each(ours().map((f) => [f.file] as const))('%s: ltrack vet --static-only does not pass it (blocks)', (file) => {
    const r = ltrack(['vet', '--static-only', '--format', 'json', join(FIXTURES, file)]);
    expect(r.code, r.stderr).toBe(1);
    expect((JSON.parse(r.stdout) as { verdict: { status: string } }).verdict.status).toBe('block');
  });
});
