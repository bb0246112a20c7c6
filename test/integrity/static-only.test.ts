import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Report } from '../../src/core/report.js';
import { FIXTURES, fixtureIndex } from '../helpers/fixtures.js';
import { CLI_BIN } from '../helpers/cli.js';

/**
 * Issue #14 acceptance: the static path alone (`ltrack vet --static-only`, what runs where there is
 * no BPF) over every bundled fixture, read from fixtures/out/index.json so that fixtures other
 * modules add are covered too: no malicious fixture passes (it blocks, or is incomplete: nothing
 * confirmed it), every benign one passes.
 */
/** The built CLI, asynchronously: 90 synchronous runs would block the test worker past vitest's RPC timeout. */
async function staticVet(args: string[]): Promise<{ code: number | null; report: Report }> {
  const child = spawn(process.execPath, [CLI_BIN, 'vet', '--static-only', '--format', 'json', ...args], {
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  let err = '';
  child.stdout.on('data', (d: Buffer) => out.push(d));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  const stdout = Buffer.concat(out).toString('utf8');
  expect(stdout, err).not.toBe('');
  return { code, report: JSON.parse(stdout) as Report };
}

describe('ltrack vet --static-only over every bundled fixture', () => {
  const index = fixtureIndex();

  it('the index holds fixtures of both kinds', () => {
    expect(index.filter((e) => e.kind === 'malicious').length).toBeGreaterThan(20);
    expect(index.filter((e) => e.kind === 'benign').length).toBeGreaterThan(5);
  });

  it.each(index.map((e) => [e.file, e] as const))(
    '%s',
    async (file, e) => {
      const { code, report } = await staticVet([join(FIXTURES, file)]);
      const why = `${e.kind} fixture (${e.does}): ${report.verdict.status}, ${JSON.stringify(report.verdict.reasons)}`;
      if (e.kind === 'malicious') {
        expect(['block', 'incomplete'], why).toContain(report.verdict.status);
        expect(code, why).toBe(report.verdict.status === 'block' ? 1 : 3);
      } else {
        expect(report.verdict.status, why).toBe('pass');
        expect(code).toBe(0);
      }
    },
    120_000,
  );
});

describe('--static-only fails closed on what only a load could settle', () => {
  const work = mkdtempSync(join(tmpdir(), 'ltrack-static-only-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  // acme_models.Net reconstructed by NEWOBJ (a class on no list, not called with arguments it chose)
  const reconstructed = join(work, 'custom_class.pkl');
  writeFileSync(reconstructed, Buffer.from('\x80\x02cacme_models\nNet\n)\x81}b.', 'latin1'));

  it('an unknown class only reconstructed: incomplete (exit 3), naming it and the remedy', async () => {
    const { code, report } = await staticVet([reconstructed]);
    expect(code).toBe(3);
    expect(report.verdict.status).toBe('incomplete');
    expect(report.verdict.reasons.join('\n')).toMatch(/acme_models\.Net.*never confirmed.*--static-only.*--allow-globals/s);
  });

  it('the same pickle passes once the user admits the class with --allow-globals', async () => {
    const allow = join(work, 'allow.toml');
    writeFileSync(allow, '[safe]\n"acme_models" = ["Net"]\n');
    const { code, report } = await staticVet(['--allow-globals', allow, reconstructed]);
    expect(report.verdict.status).toBe('pass');
    expect(code).toBe(0);
  });

  it('an unknown callable called with a command line blocks at critical, and says which argument', async () => {
    const called = join(work, 'helper.pkl');
    const cmd = Buffer.from('touch /tmp/ltrack-canary-x; id');
    const len = Buffer.alloc(4);
    len.writeUInt32LE(cmd.length);
    writeFileSync(called, Buffer.concat([Buffer.from('\x80\x02cacme_tools\nrun_cmd\nX', 'latin1'), len, cmd, Buffer.from('\x85R.', 'latin1')]));
    const { code, report } = await staticVet([called]);
    expect(code).toBe(1);
    const f = report.findings.find((x) => x.ruleId === 'LT-PKL-013')!;
    expect(f.severity).toBe('critical');
    expect(f.evidence.payload).toMatchObject({ kind: 'shell' });
  });
});
