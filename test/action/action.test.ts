import { execFile, spawnSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateAction, validateWorkflow } from '@action-validator/core';
import { projectPath } from '../../src/core/paths.js';
import { FIXTURES } from '../helpers/fixtures.js';
import { startHub } from '../helpers/hub.js';
import { CLI_BIN } from '../helpers/cli.js';

/**
 * The bundled action run as the runner runs it: `node dist/action/index.js` with INPUT_* variables,
 * GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, GITHUB_EVENT_PATH and RUNNER_TEMP; the vets behind it are the
 * real ones (tracer and sandbox on this machine).
 */
const run = promisify(execFile);
const BUNDLE = projectPath('dist/action/index.js');
let work: string;
let key: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lt-action-'));
  expect(spawnSync(process.execPath, [CLI_BIN, 'key', 'generate', join(work, 'k')]).status).toBe(0);
  key = await readFile(join(work, 'k.key'), 'utf8');
});
afterAll(async () => rm(work, { recursive: true, force: true }));

let n = 0;
async function runAction(inputs: Record<string, string>, opts: { event?: { name: string; payload: unknown }; bundle?: string; cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const dir = join(work, `run-${n++}`);
  await mkdir(dir);
  const files = { output: join(dir, 'output'), summary: join(dir, 'summary.md'), event: join(dir, 'event.json') };
  await writeFile(files.output, '');
  await writeFile(files.summary, '');
  await writeFile(files.event, JSON.stringify(opts.event?.payload ?? {}));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    GITHUB_OUTPUT: files.output,
    GITHUB_STEP_SUMMARY: files.summary,
    GITHUB_EVENT_PATH: files.event,
    GITHUB_EVENT_NAME: opts.event?.name ?? 'push',
    GITHUB_WORKSPACE: dir,
    GITHUB_REPOSITORY: 'acme/models',
    GITHUB_RUN_ID: '42',
    GITHUB_SERVER_URL: 'https://github.com',
    RUNNER_TEMP: dir,
    INPUT_OUT: join(dir, 'out'),
    ...Object.fromEntries(Object.entries(inputs).map(([k, v]) => [`INPUT_${k.toUpperCase()}`, v])),
    ...opts.env,
  };
  const r = await run(process.execPath, [opts.bundle ?? BUNDLE], { cwd: opts.cwd ?? dir, env, maxBuffer: 64 << 20 }).then(
    (x) => ({ code: 0, stdout: x.stdout, stderr: x.stderr }),
    (err: unknown) => {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    },
  );
  const outputs = Object.fromEntries([...(await readFile(files.output, 'utf8')).matchAll(/^(\w+)<<(\S+)\n([\s\S]*?)\n\2$/gm)].map((m) => [m[1]!, m[3]!]));
  return { ...r, outputs, summary: await readFile(files.summary, 'utf8'), out: join(dir, 'out') };
}

describe('the GitHub Action bundle', () => {
  it('dist/action/index.js is what scripts/bundle.mjs builds from the sources now', async () => {
    const fresh = join(work, 'fresh-bundle.js');
    await run(process.execPath, [projectPath('scripts/bundle.mjs'), 'action', fresh]);
    expect((await readFile(fresh)).equals(await readFile(BUNDLE)), 'run node scripts/bundle.mjs action and commit dist/action/index.js').toBe(true);
  });

  it('action.yml and every example workflow validate', async () => {
    const action = await readFile(projectPath('action.yml'), 'utf8');
    // the validator's schema predates node24: the runtime is the one thing it cannot know
    const raw = validateAction(action);
    expect(raw.errors.map((e) => ('path' in e ? e.path : '(parse error)'))).toEqual(['/runs']);
    expect(validateAction(action.replace('using: node24', 'using: node20')).errors).toEqual([]);
    const examples = (await readdir(projectPath('examples'))).filter((f) => f.endsWith('.yml'));
    expect(examples.length).toBeGreaterThanOrEqual(3);
    for (const f of examples) expect(validateWorkflow(await readFile(projectPath('examples', f), 'utf8')).errors, f).toEqual([]);
  });

  it('pass: outputs, a job summary, a signed manifest, and the signing key never in the log', async () => {
    const r = await runAction({ paths: join(FIXTURES, 'benign', 'torch_state_dict.pt'), 'sign-key': key });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.outputs).toMatchObject({ verdict: 'pass', sarif: join(r.out, 'report.sarif'), report: join(r.out, 'report.json'), manifest: join(r.out, 'manifest.dsse.json') });
    expect(existsSync(join(r.out, 'report.html'))).toBe(true);
    expect(r.summary).toMatch(/^## ltrack vet: ✅ PASS/m);
    expect(r.summary).toMatch(/sandbox docker, \d+ kernel events, 0 dropped/);
    expect(r.summary).toContain('| libraries mapped executable |');
    expect(r.stdout).toMatch(/^::group::ltrack vet /m);
    // the runner consumes ::add-mask:: lines (that is how a secret gets masked); nothing else shows the key
    const keyBody = key.split('\n')[1]!;
    const shown = (r.stdout + r.stderr).split('\n').filter((l) => !l.startsWith('::add-mask::'));
    expect(shown.join('\n')).not.toContain(keyBody);
    expect(r.stdout).toContain(`::add-mask::${keyBody}`);
    const verify = spawnSync(process.execPath, [CLI_BIN, 'manifest', 'verify', r.outputs.manifest!, '--key', join(work, 'k.pub'), '--files', join(FIXTURES, 'benign', 'torch_state_dict.pt')]);
    expect(verify.status).toBe(0);
  });

  it('block: exit 1, one annotation per finding on the model file, a findings table in the summary', async () => {
    const model = join(FIXTURES, 'malicious', 'system.pkl');
    const r = await runAction({ paths: model, dynamic: 'off' });
    expect(r.code).toBe(1);
    expect(r.outputs.verdict).toBe('block');
    expect(r.stdout).toMatch(/^::error title=LT-PKL-001 [^,]*,file=[^:]*system\.pkl::critical \(CVSS \d+\.\d\): /m);
    expect(r.stdout).toMatch(/^::error::ltrack: blocked: /m);
    expect(r.summary).toMatch(/^## ltrack vet: ⛔ BLOCK/m);
    expect(r.summary).toMatch(/^\| LT-PKL-001 .* \| critical \| \d+\.\d \| .*system\.pkl \| /m);
    expect(r.outputs.manifest).toBe('');
  });

  it('a workflow_dispatch passes its inputs through `with:` (INPUT_*), whatever the event payload holds', async () => {
    const model = join(FIXTURES, 'benign', 'array.npy');
    const r = await runAction(
      { paths: model, dynamic: 'off', 'fail-on': 'critical' },
      { event: { name: 'workflow_dispatch', payload: { inputs: { 'fail-on': 'critical', paths: 'ignored' }, ref: 'refs/heads/main' } } },
    );
    expect(r.code, r.stdout).toBe(0);
    expect(r.summary).toContain('fail-on critical');
  });

  it('a repository_dispatch from a model registry names the paths in its payload', async () => {
    const r = await runAction({ dynamic: 'off' }, { event: { name: 'repository_dispatch', payload: { action: 'model-pushed', client_payload: { paths: [join(FIXTURES, 'benign', 'array.npy')] } } } });
    expect(r.code, r.stdout).toBe(0);
    expect((JSON.parse(await readFile(join(r.out, 'report.json'), 'utf8')) as { targets: { path: string }[] }).targets.map((t) => t.path)).toEqual([join(FIXTURES, 'benign', 'array.npy')]);
  });

  it('no sandbox on the runner: dynamic required is incomplete (exit 3); auto says so in one line and runs static analysis', async () => {
    const model = join(FIXTURES, 'benign', 'array.npy');
    const env = { DOCKER_HOST: `unix://${join(work, 'no-docker.sock')}` };
    const required = await runAction({ paths: model, sandbox: 'docker' }, { env });
    expect(required.code).toBe(3);
    expect(required.stdout).toMatch(/^::error::ltrack: incomplete: the dynamic vet cannot run on this runner \(.*\); set dynamic: auto/m);
    const auto = await runAction({ paths: model, sandbox: 'docker', dynamic: 'auto' }, { env });
    expect(auto.code, auto.stdout).toBe(0);
    expect(auto.stdout.split('\n').filter((l) => l.startsWith('::warning::'))).toEqual([expect.stringMatching(/dynamic vet unavailable .*static analysis only/)]);
    expect(auto.summary).toContain('sandbox none');
  });

  it('bad input: a bad fail-on or a missing file is exit 2 with one error line naming it', async () => {
    const bad = await runAction({ paths: join(FIXTURES, 'benign', 'array.npy'), 'fail-on': 'extreme' });
    expect(bad.code).toBe(2);
    expect(bad.stdout.trim().split('\n')).toEqual(['::error::ltrack: input fail-on must be one of info, low, medium, high, critical; got "extreme"']);
    const missing = await runAction({ paths: join(work, 'nope.pt'), dynamic: 'off' });
    expect(missing.code).toBe(2);
    expect(missing.stdout).toMatch(/^::error::ltrack: .*nope\.pt/m);
  });

  it('a Hub repo from a registry webhook (repository_dispatch hub_repo) goes through the gate: promoted, or blocked with its finding', async () => {
    const hub = await startHub([
      {
        id: 'org/ok',
        files: [
          { path: 'config.json', content: Buffer.from('{}') },
          { path: 'array.npy', content: await readFile(join(FIXTURES, 'benign', 'array.npy')) },
        ],
      },
      {
        id: 'org/evil',
        files: [
          { path: 'config.json', content: Buffer.from('{}') },
          { path: 'model.pkl', content: await readFile(join(FIXTURES, 'malicious', 'system.pkl')) },
        ],
      },
    ]);
    try {
      const registry = join(work, 'hub-registry');
      const inputs = { dynamic: 'off', registry, endpoint: hub.url, quarantine: join(work, 'hub-quarantine') };
      const ok = await runAction(inputs, { event: { name: 'repository_dispatch', payload: { client_payload: { hub_repo: 'org/ok', revision: 'main' } } } });
      expect(ok.code, ok.stdout).toBe(0);
      expect(ok.outputs).toMatchObject({ verdict: 'pass', commit: hub.commit('org/ok'), snapshot: join(registry, 'models--org--ok', 'snapshots', hub.commit('org/ok')) });
      expect(await readFile(join(registry, 'models--org--ok', 'refs', 'main'), 'utf8')).toBe(hub.commit('org/ok'));
      const evil = await runAction({ ...inputs, 'hub-repo': 'org/evil@main' });
      expect(evil.code).toBe(1);
      expect(evil.outputs.verdict).toBe('block');
      expect(evil.stdout).toMatch(/^::error title=LT-PKL-001 /m);
      expect(existsSync(join(work, 'hub-quarantine', 'models--org--evil', hub.commit('org/evil'), 'report.json'))).toBe(true);
    } finally {
      await hub.close();
    }
  });

  it('the bundle needs no node_modules: it runs from a checkout that has none', async () => {
    const checkout = join(work, 'checkout');
    await mkdir(join(checkout, 'dist', 'action'), { recursive: true });
    await cp(BUNDLE, join(checkout, 'dist', 'action', 'index.js'));
    for (const f of ['package.json', 'rules', 'sandbox', 'native', 'build']) if (existsSync(projectPath(f))) await symlink(projectPath(f), join(checkout, f));
    const r = await runAction({ paths: join(FIXTURES, 'benign', 'array.npy'), dynamic: 'off' }, { bundle: join(checkout, 'dist', 'action', 'index.js'), cwd: checkout });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.outputs.verdict).toBe('pass');
  });
});
