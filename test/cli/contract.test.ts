import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { ltrack } from '../helpers/cli.js';
import { projectPath } from '../../src/core/paths.js';

const pkg = JSON.parse(readFileSync(projectPath('package.json'), 'utf8')) as { version: string };

describe('CLI contract (DESIGN.md)', () => {
  it('prints the package version', () => {
    const r = ltrack(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(pkg.version);
  });

  it('documents the exit codes in --help', () => {
    const r = ltrack(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/0 pass, 1 blocked, 2 bad usage or bad input, 3 incomplete/);
    for (const cmd of ['vet', 'doctor', 'rules', 'manifest', 'sandbox', 'key']) expect(r.stdout).toContain(cmd);
  });

  it('shows every vet option of the contract', () => {
    const r = ltrack(['vet', '--help']);
    expect(r.code).toBe(0);
    for (const opt of ['--static-only', '--sandbox <driver>', '--deps <file>', '--format <format>', '--out <dir>', '--fail-on <severity>', '--sign-key <file>']) {
      expect(r.stdout).toContain(opt);
    }
  });

  it('exits 2 with one line on a usage error', () => {
    const r = ltrack(['vet', '--fail-on', 'extreme', 'x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/extreme/);
  });

  it('exits 2 on an unknown command', () => {
    expect(ltrack(['frobnicate']).code).toBe(2);
  });

  it('gate: a missing registry or a repo id the Hub would refuse is exit 2, one line, nothing fetched', () => {
    for (const [args, said] of [
      [['gate', 'org/model'], /--to REGISTRY_DIR/],
      [['gate', '../../etc@main', '--to', '/tmp/x'], /not a Hugging Face repo id/],
      [['gate', 'org/model@../../x', '--to', '/tmp/x'], /not a revision/],
    ] as const) {
      const r = ltrack([...args]);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(said);
    }
  });
});
