import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyseCondaLock, analyseLock, confusableWith } from '../../src/locks/index.js';

const write = async (name: string, text: string) => {
  const dir = await mkdtemp(join(tmpdir(), 'ltrack-locks-'));
  await writeFile(join(dir, name), text);
  return join(dir, name);
};
const summary = (d: { ruleId: string; message: string }[]) => d.map((x) => `${x.ruleId} ${x.message}`);

describe('name confusion', () => {
  it.each([
    ['pytorch', 'torch'],
    ['nunpy', 'numpy'],
    ['numpyy', 'numpy'],
    ['tranformers', 'transformers'],
    ['transfromers', 'transformers'],
    ['python-requests', 'requests'],
    ['requests-dev', 'requests'],
    ['scikit_learm', 'scikit-learn'],
    ['Safetensor', 'safetensors'],
  ])('%s imitates %s', (name, like) => expect(confusableWith(name)).toBe(like));

  it.each(['torch', 'numpy', 'scikit_learn', 'Scikit-Learn', 'pyyaml', 'pytest', 'pyarrow', 'attrs', 'six', 'jaxlib', 'ltrack-fixture-plain'])('%s is not a confusion', (name) =>
    expect(confusableWith(name)).toBeUndefined(),
  );

  it('never throws and never calls a well-known name a confusion of itself', () => {
    fc.assert(fc.property(fc.string({ maxLength: 40 }), (s) => confusableWith(s) !== s.toLowerCase()));
  });
});

describe('pip lock checks', () => {
  it('flags a typosquatted requirement on its line', async () => {
    const text = `torch==1.13.0 --hash=sha256:${'a'.repeat(64)}\npytorch==1.0 --hash=sha256:${'b'.repeat(64)}\n`;
    const d = await analyseLock(await write('requirements.txt', text));
    expect(summary(d)).toEqual(['LT-DEP-004 pytorch imitates the well-known package torch']);
    expect(d[0]!.location?.byteOffset).toBe(text.indexOf('pytorch'));
  });
});

describe('conda lock checks', () => {
  it('@EXPLICIT: foreign channel, missing hash and a typosquat, one line each; local and conda-forge archives with digests pass', async () => {
    const f = await write(
      'explicit.txt',
      [
        '# platform: linux-64',
        '@EXPLICIT',
        `https://conda.anaconda.org/conda-forge/linux-64/numpy-1.26.4-py311h64a7726_0.conda#${'c'.repeat(32)}`,
        `file:///channel/noarch/ltrack-conda-dep-0.1-0.tar.bz2#${'d'.repeat(32)}`,
        `https://conda.example.invalid/evil/linux-64/numpy-1.26.4-0.conda#sha256:${'e'.repeat(64)}`,
        'https://conda.anaconda.org/conda-forge/noarch/tqdm-4.66.1-pyhd8ed1ab_0.conda',
        `https://conda.anaconda.org/conda-forge/noarch/nunpy-1.0-0.tar.bz2#${'f'.repeat(32)}`,
        '',
      ].join('\n'),
    );
    expect(summary(await analyseCondaLock(f))).toEqual([
      'LT-DEP-003 channel outside the allowlist: https://conda.example.invalid/evil/linux-64/numpy-1.26.4-0.conda',
      'LT-DEP-002 tqdm has no md5 or sha256 hash',
      'LT-DEP-004 nunpy imitates the well-known package numpy',
    ]);
  });

  it('conda-lock.yml: per package, channel and hash; pip-managed entries are not conda channels', async () => {
    const text = `version: 1
package:
  - name: numpy
    version: 1.26.4
    manager: conda
    platform: linux-64
    url: https://conda.anaconda.org/conda-forge/linux-64/numpy-1.26.4-py311h64a7726_0.conda
    hash:
      md5: ${'a'.repeat(32)}
  - name: torchh
    version: '2.1'
    manager: conda
    platform: linux-64
    url: https://mirror.example.invalid/linux-64/torchh-2.1-0.conda
    hash: {}
  - name: requests
    version: 2.31.0
    manager: pip
    url: https://files.pythonhosted.org/packages/requests-2.31.0-py3-none-any.whl
    hash:
      sha256: ${'b'.repeat(64)}
`;
    const d = await analyseCondaLock(await write('conda-lock.yml', text));
    expect(summary(d)).toEqual([
      'LT-DEP-003 torchh comes from a channel outside the allowlist: https://mirror.example.invalid/linux-64/torchh-2.1-0.conda',
      'LT-DEP-002 torchh has no md5 or sha256 hash',
      'LT-DEP-004 torchh imitates the well-known package torch',
    ]);
    expect(d[0]!.location?.byteOffset).toBe(text.indexOf('  - name: torchh'));
  });

  it('environment.yml: unpinned specs, no hashes possible, foreign channels', async () => {
    const f = await write(
      'environment.yml',
      `name: model
channels:
  - conda-forge
  - https://conda.example.invalid/private
dependencies:
  - numpy=1.26.4
  - scipy
  - pip:
      - requests==2.31.0
`,
    );
    expect(summary(await analyseCondaLock(f))).toEqual([
      'LT-DEP-003 channel outside the allowlist: https://conda.example.invalid/private',
      'LT-DEP-002 numpy has no hash (environment.yml cannot pin bytes; use conda-lock or @EXPLICIT)',
      'LT-DEP-001 scipy is not pinned to one version',
      'LT-DEP-002 scipy has no hash (environment.yml cannot pin bytes; use conda-lock or @EXPLICIT)',
    ]);
  });

  it('a file that is no conda lock is bad input (exit 2), not a crash', async () => {
    const f = await write('environment.yml', 'just: [a, mapping\n');
    await expect(analyseCondaLock(f)).rejects.toMatchObject({ code: 'bad_input' });
    const g = await write('conda-lock.yml', 'name: nothing here\n');
    await expect(analyseCondaLock(g)).rejects.toMatchObject({ code: 'bad_input' });
  });
});
