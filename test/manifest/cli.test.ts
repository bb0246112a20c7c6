import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { ltrack } from '../helpers/cli.js';
import { buildManifest, signEd25519 } from '../../src/manifest/index.js';
import { REPORT_VERSION, type Report } from '../../src/core/report.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ltrack-manifest-cli-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe('ltrack key generate / manifest verify', () => {
  it('generates a key pair, verifies a manifest (exit 0) and rejects a changed file (exit 1, one line)', async () => {
    const gen = ltrack(['key', 'generate', join(dir, 'k')]);
    expect(gen.code).toBe(0);
    expect((await stat(join(dir, 'k.key'))).mode & 0o777).toBe(0o600);
    expect(ltrack(['key', 'generate', join(dir, 'k')]).code).toBe(2);

    // The model folder holds the model only: verify binds to every file in it.
    const modelDir = join(dir, 'model');
    await mkdir(modelDir);
    const model = join(modelDir, 'model.bin');
    await writeFile(model, 'model bytes');
    const sha256 = createHash('sha256').update('model bytes').digest('hex');
    const report: Report = {
      version: REPORT_VERSION,
      tool: { name: 'ltrack', version: '0' },
      startedAt: new Date().toISOString(),
      targets: [{ path: model, sha256, size: 11, format: 'pickle' }],
      verdict: { status: 'pass', severity: 'info', score: 0, failOn: 'high', reasons: [] },
      findings: [],
      observed: { filesRead: [], filesWritten: [], librariesMapped: [], exec: [], network: [], packages: [] },
      stats: { events: 0, drops: 0, tracerTiers: [], sandbox: 'none', durationsMs: {} },
      rulesetDigest: 'c'.repeat(64),
    };
    const env = signEd25519(await buildManifest(report, { files: [model] }), await readFile(join(dir, 'k.key'), 'utf8'));
    const manifest = join(dir, 'manifest.dsse.json');
    await writeFile(manifest, JSON.stringify(env));

    const ok = ltrack(['manifest', 'verify', manifest, '--key', join(dir, 'k.pub'), '--files', modelDir]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^valid: 1 model file/);

    await writeFile(model, 'model bytes, patched');
    const bad = ltrack(['manifest', 'verify', manifest, '--key', join(dir, 'k.pub'), '--files', modelDir]);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim().split('\n')).toEqual([
      `ltrack: ${manifest}: invalid: model file changed: model.bin (sha256 ${createHash('sha256').update('model bytes, patched').digest('hex').slice(0, 12)}…, signed ${sha256.slice(0, 12)}…)`,
    ]);

    const missing = ltrack(['manifest', 'verify', join(dir, 'nope.json'), '--key', join(dir, 'k.pub'), '--files', modelDir]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/nope\.json: cannot read/);
  });
});
