import { describe, expect, it } from 'vitest';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ltrack } from '../helpers/cli.js';
import { FIXTURES } from '../helpers/fixtures.js';
import { analyseRequirements } from '../../src/locks/index.js';
import type { Report } from '../../src/core/report.js';

const model = join(FIXTURES, 'benign', 'torch_module.pt');
const set = (kind: string) => join(FIXTURES, 'deps', kind);

describe('dependency sets: install and import phases in the real sandbox', () => {
  it("sees a dependency's setup.py run a shell during the install phase", async () => {
    const out = await mkdtemp(join(tmpdir(), 'ltrack-deps-'));
    const r = ltrack(['vet', model, '--deps', join(set('evil'), 'requirements.txt'), '--wheelhouse', join(set('evil'), 'wheelhouse'), '--out', out]);
    expect(r.code).toBe(1);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as Report;
    const shell = report.findings.find((f) => f.ruleId === 'LT-EXEC-002');
    expect(shell?.phase).toBe('install');
    // Python 3.13's os.system ends the shell's options with "--"
    expect(shell?.evidence.argv).toEqual(['sh', '-c', '--', '/bin/true']);
    expect(report.findings.some((f) => f.ruleId.startsWith('LT-DEP-'))).toBe(false); // pinned and hashed
  });

  it('installs and imports a plain dependency without a finding, and lists it with its archive digest', async () => {
    const out = await mkdtemp(join(tmpdir(), 'ltrack-deps-'));
    const r = ltrack(['vet', model, '--deps', join(set('benign'), 'requirements.txt'), '--wheelhouse', join(set('benign'), 'wheelhouse'), '--out', out]);
    expect(r.code, r.stdout).toBe(0);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as Report;
    expect(report.observed.packages).toEqual([{ name: 'ltrack-fixture-plain', version: '0.1', sha256: expect.stringMatching(/^[0-9a-f]{64}$/) as string }]);
    const events = (await readFile(join(out, 'events.jsonl'), 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { phase?: string; path?: string });
    expect(events.some((e) => e.phase === 'import' && e.path?.includes('/dist-packages/ltrack_fixture_plain/'))).toBe(true);
  });
});

describe('conda locks: installed from a local channel without conda, link scripts run as conda runs them', () => {
  const readEvents = async (out: string) =>
    (await readFile(join(out, 'events.jsonl'), 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { kind: string; phase?: string; path?: string; argv?: string[] });

  it("sees a .tar.bz2 package's post-link script run a shell and touch a canary during the install phase (@EXPLICIT lock, md5)", async () => {
    const out = await mkdtemp(join(tmpdir(), 'ltrack-conda-'));
    const r = ltrack(['vet', model, '--deps', join(set('conda-evil'), 'explicit.txt'), '--wheelhouse', join(set('conda-evil'), 'channel'), '--out', out]);
    expect(r.code, r.stdout).toBe(1);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as Report;
    const shell = report.findings.find((f) => f.ruleId === 'LT-EXEC-002');
    expect(shell?.phase).toBe('install');
    expect(shell?.evidence.argv).toEqual(['/bin/bash', '/tmp/ltrack/prefix/bin/.ltrack-conda-dep-post-link.sh']);
    expect(report.observed.packages).toEqual([{ name: 'ltrack-conda-dep', version: '0.1', sha256: expect.stringMatching(/^[0-9a-f]{64}$/) as string }]);
    const events = await readEvents(out);
    expect(events.some((e) => e.kind === 'exec' && e.phase === 'install' && e.argv?.join(' ') === '/bin/true')).toBe(true);
    expect(events.some((e) => e.kind === 'file_open' && e.phase === 'install' && e.path === '/tmp/ltrack-canary-conda')).toBe(true);
  });

  it('installs and imports a plain .conda package without a finding (conda-lock.yml, sha256)', async () => {
    const out = await mkdtemp(join(tmpdir(), 'ltrack-conda-'));
    const r = ltrack(['vet', model, '--deps', join(set('conda-benign'), 'conda-lock.yml'), '--wheelhouse', join(set('conda-benign'), 'channel'), '--out', out]);
    expect(r.code, r.stdout).toBe(0);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as Report;
    expect(report.observed.packages).toEqual([{ name: 'ltrack-conda-plain', version: '0.1', sha256: expect.stringMatching(/^[0-9a-f]{64}$/) as string }]);
    const events = await readEvents(out);
    expect(events.some((e) => e.phase === 'import' && e.path?.endsWith('/site-packages/ltrack_conda_plain/__init__.py'))).toBe(true);
  });
});

describe('lock-file checks', () => {
  it('flags unpinned, unhashed and foreign-index requirements, one line each', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ltrack-lock-'));
    const f = join(dir, 'requirements.txt');
    await writeFile(
      f,
      [
        '# comment',
        '--extra-index-url https://pypi.example.invalid/simple',
        'numpy>=1.20 --hash=sha256:' + 'a'.repeat(64),
        'torch==1.13.0',
        `six==1.16.0 \\\n    --hash=sha256:${'b'.repeat(64)}`,
        '--require-hashes',
        '',
      ].join('\n'),
    );
    const d = await analyseRequirements(f);
    expect(d.map((x) => `${x.ruleId} ${x.message}`)).toEqual([
      'LT-DEP-003 index or find-links outside the allowlist: https://pypi.example.invalid/simple',
      'LT-DEP-001 numpy is not pinned to one version',
      'LT-DEP-002 torch has no sha256 hash',
    ]);
  });
});

describe("production's versions: a lock that pins a loader loads the model with that version", () => {
  it("loads a joblib model with the lock's joblib 1.2.0 instead of the image's, and the report says which ran", async () => {
    const pinned = join(FIXTURES, 'deps', 'joblib-pinned');
    const out = await mkdtemp(join(tmpdir(), 'ltrack-deps-'));
    const r = ltrack(['vet', join(pinned, 'model.joblib'), '--deps', join(pinned, 'requirements.txt'), '--wheelhouse', join(pinned, 'wheelhouse'), '--out', out]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as Report;
    expect(report.stats.loaders?.fromDeps).toEqual([{ name: 'joblib', version: '1.2.0', loaded: true }]);
    expect(report.stats.loaders).toMatchObject({ python: expect.stringMatching(/^3\./) as string, torch: expect.any(String) as string, numpy: expect.any(String) as string });
    // The kernel saw the model's load go through the lock's copy, not the image's 1.4.
    const events = (await readFile(join(out, 'events.jsonl'), 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { kind: string; phase?: string; path?: string });
    const joblibOpens = events.filter((e) => e.kind === 'file_open' && /\/joblib\/(?:__pycache__\/)?numpy_pickle/.test(e.path ?? ''));
    expect(joblibOpens.length).toBeGreaterThan(0);
    expect(joblibOpens.every((e) => e.path?.startsWith('/tmp/ltrack/prefix/'))).toBe(true);
  });
});
