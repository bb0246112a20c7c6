import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ltrack } from '../helpers/cli.js';
import type { Report } from '../../src/core/report.js';

/**
 * Checkpoints larger than the sandbox's memory limit, through the real sandbox and tracer: a torch
 * zip is memory-mapped by the loader and passes; a legacy-format checkpoint (which torch cannot map)
 * exhausts the limit, and that makes the vet incomplete with the limit named — never a block.
 * The limit is set low (--memory) so that a 1 GiB checkpoint is "larger than memory" here.
 */
const MEMORY = '900m';
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ltrack-scale-'));
  // Debian's torch on the host writes them (the first python3 on PATH has none).
  execFileSync('/usr/bin/python3', [
    '-c',
    `
import sys, torch
t = {"w": torch.ones(256 * 1024 * 1024)}  # 1 GiB of float32
torch.save(t, sys.argv[1])
torch.save(t, sys.argv[2], _use_new_zipfile_serialization=False)
`,
    join(dir, 'big.pt'),
    join(dir, 'big-legacy.pt'),
  ]);
}, 120_000);
afterAll(async () => rm(dir, { recursive: true, force: true }));

const readReport = async (out: string) => JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as Report;

describe('checkpoints larger than the sandbox memory', () => {
  it.each(['docker', 'bwrap'])('a 1 GiB torch zip loads memory-mapped under a %s limit below its size and passes', async (driver) => {
    const out = join(dir, `mmap-${driver}`);
    const r = ltrack(['vet', '--sandbox', driver, '--memory', MEMORY, join(dir, 'big.pt'), '--out', out]);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const report = await readReport(out);
    expect(report.verdict.status).toBe('pass');
    expect(report.findings).toEqual([]);
  });

  it('a 1 GiB legacy checkpoint that cannot be mapped exhausts the limit: incomplete, naming the limit, not blocked', async () => {
    const out = join(dir, 'legacy');
    const r = ltrack(['vet', '--memory', MEMORY, join(dir, 'big-legacy.pt'), '--out', out]);
    expect(r.code, r.stderr + r.stdout).toBe(3);
    const report = await readReport(out);
    expect(report.verdict.status).toBe('incomplete');
    expect(report.verdict.reasons.join('\n')).toMatch(/memory limit \(900 MiB\).*--memory/);
    expect(report.findings.filter((f) => f.severity === 'high' || f.severity === 'critical')).toEqual([]);
  });

  it('sizes the limit from the file when --memory is not given, so the same legacy checkpoint passes', async () => {
    const out = join(dir, 'legacy-sized');
    const r = ltrack(['vet', join(dir, 'big-legacy.pt'), '--out', out]);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect((await readReport(out)).verdict.status).toBe('pass');
  });
});
