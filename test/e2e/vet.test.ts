import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ltrack } from '../helpers/cli.js';
import { FIXTURES } from '../helpers/fixtures.js';
import type { Report } from '../../src/core/report.js';

/**
 * `ltrack vet` end to end through the real parts: static analysis, the docker sandbox running the
 * real loaders, the eBPF tracer attached at the go-gate, rules, scoring and every output.
 */
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ltrack-e2e-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

const readReport = async (out: string) => JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as Report;

describe('ltrack vet (real sandbox + eBPF tracer)', () => {
  it('passes a benign torch module, having watched the harness from its exec on, and signs its allowlist', async () => {
    const out = join(dir, 'benign');
    expect(ltrack(['key', 'generate', join(dir, 'k')]).code).toBe(0);
    const r = ltrack(['vet', join(FIXTURES, 'benign', 'torch_module.pt'), '--out', out, '--sign-key', join(dir, 'k.key'), '--format', 'json'], { env: { LTRACK_PROGRESS: '' } });
    expect(r.code, r.stderr).toBe(0);
    const report = await readReport(out);
    // stdout is the JSON report alone; progress (off a terminal: a line per step once the vet has
    // lasted 2 s, no per-file updates — test/cli/progress.test.ts) is on stderr
    expect((JSON.parse(r.stdout) as Report).verdict.status).toBe('pass');
    const progress = r.stderr.split('\n').filter((l) => l !== '');
    expect(progress.every((l) => l.startsWith('ltrack: ') && !l.includes('hashed'))).toBe(true);
    expect(report.verdict.status).toBe('pass');
    expect(report.stats.sandbox).toBe('docker');
    expect(report.stats.drops).toBe(0);
    expect(report.stats.loaders).toMatchObject({
      image: expect.stringMatching(/^ltrack-sandbox:/) as string,
      python: expect.stringMatching(/^3\./) as string,
      torch: expect.stringMatching(/^2\./) as string,
      fromDeps: [],
    });
    expect(report.findings).toEqual([]);
    const events = (await readFile(join(out, 'events.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string; argv?: string[]; phase?: string; path?: string });
    // Go-handshake: the harness's exec is seen, so is its very first file open after it.
    const harnessExec = events.findIndex((e) => e.kind === 'exec' && e.argv?.includes('/ltrack/harness/harness.py'));
    expect(harnessExec).toBeGreaterThanOrEqual(0);
    expect(events.slice(harnessExec).some((e) => e.kind === 'file_open')).toBe(true);
    expect(events.some((e) => e.phase === 'load' && e.path === '/candidate/torch_module.pt')).toBe(true);
    expect(report.observed.librariesMapped.some((l) => l.path.includes('libtorch') && l.sha256)).toBe(true);
    // The manifest is of the one file vetted: it verifies against that file, and not against its
    // folder, whose other files it never covered.
    const v = ltrack(['manifest', 'verify', join(out, 'manifest.dsse.json'), '--key', join(dir, 'k.pub'), '--files', join(FIXTURES, 'benign', 'torch_module.pt')]);
    expect(v.code, v.stderr).toBe(0);
    const folder = ltrack(['manifest', 'verify', join(out, 'manifest.dsse.json'), '--key', join(dir, 'k.pub'), '--files', join(FIXTURES, 'benign')]);
    expect(folder.code).toBe(1);
    expect(folder.stderr).toMatch(/not covered by the manifest: .*data\.pkl/);
  });

  it.each(['docker', 'bwrap'])('blocks os.system in a torch checkpoint under %s: static and kernel agree', async (driver) => {
    const out = join(dir, `system-${driver}`);
    const r = ltrack(['vet', '--sandbox', driver, join(FIXTURES, 'malicious', 'system_checkpoint.pt'), '--out', out]);
    expect(r.code).toBe(1);
    const report = await readReport(out);
    expect(report.verdict.status).toBe('block');
    expect(report.stats.sandbox).toBe(driver);
    const exec = report.findings.find((f) => f.ruleId === 'LT-EXEC-001' && f.phase === 'load');
    expect(exec?.evidence.path).toBe('/usr/bin/dash');
    expect(report.findings.find((f) => f.ruleId === 'LT-PKL-001')?.location?.entry).toEqual(['archive/data.pkl']);
    expect(report.observed.exec.map((e) => e.path)).toEqual(expect.arrayContaining(['/usr/bin/dash', '/usr/bin/true']));
    expect(report.findings.some((f) => f.cvss.weighting.includes('+0.5 static and dynamic analysis agree'))).toBe(true);
  });

  it('passes the benign torch module under bwrap too', async () => {
    const out = join(dir, 'benign-bwrap');
    const r = ltrack(['vet', '--sandbox', 'bwrap', join(FIXTURES, 'benign', 'torch_module.pt'), '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const report = await readReport(out);
    expect(report.stats.sandbox).toBe('bwrap');
    expect(report.stats.events).toBeGreaterThan(100);
  });

  it('sees the decoy read, the connect attempt and the dropped library of the other payloads', async () => {
    const expectations: [string, string][] = [
      ['read_ssh_key.pkl', 'LT-FILE-001'],
      ['connect.pkl', 'LT-NET-001'],
      ['libhack.pkl', 'LT-EXEC-004'],
    ];
    for (const [file, rule] of expectations) {
      const out = join(dir, file);
      expect(ltrack(['vet', join(FIXTURES, 'malicious', file), '--out', out]).code).toBe(1);
      const report = await readReport(out);
      expect(
        report.findings.filter((f) => f.source === 'dynamic').map((f) => f.ruleId),
        file,
      ).toContain(rule);
    }
  });

  it('prints the JSON report on stdout with --format json and exits 2 naming a missing file', () => {
    const r = ltrack(['vet', '--static-only', '--format', 'json', join(FIXTURES, 'benign', 'array.npy')]);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as Report).verdict.status).toBe('pass');
    const missing = ltrack(['vet', join(dir, 'nope.pt')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toContain('nope.pt');
  });
});
