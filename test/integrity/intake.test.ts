import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ltrack } from '../helpers/cli.js';
import { FIXTURES } from '../helpers/fixtures.js';
import { loadUnchecked, ranTrue } from '../helpers/unchecked.js';
import { vet } from '../../src/vet/index.js';
import { stageBase } from '../../src/intake/stage.js';
import { MOUNT_IN_PLACE } from '../../src/intake/mount-in-place.js';
import { buildManifest } from '../../src/manifest/index.js';
import type { Report } from '../../src/core/report.js';

/**
 * Intake integrity (issue #12 items 3 and 4, and the FIFO and `:` defects), against the real
 * sandbox and tracer: each harmful fixture does harm when loaded unchecked and `ltrack vet`
 * blocks it; non-regular input is exit 2 at once; a file rewritten while the vet runs changes
 * nothing that is loaded.
 */
const F = join(FIXTURES, 'integrity_intake');
const work = mkdtempSync(join(tmpdir(), 'ltrack-intake-it-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const PAYLOAD = readFileSync(join(F, 'proto1_system.pkl'));

/**
 * Folder candidates, built around the generator's payload (the fixture index lists single files):
 * a Hugging Face cache repo whose snapshot's pytorch_model.bin links to ../../blobs/<sha256>, as
 * every real cache snapshot does, and a folder whose weights.pkl links out of it.
 */
const SNAPSHOT = join(work, 'hub/models--acme--tiny/snapshots/0123456789abcdef0123456789abcdef01234567');
const ESCAPE = join(work, 'escape/candidate');
function buildFolders(): void {
  const repo = join(work, 'hub/models--acme--tiny');
  const blob = sha(PAYLOAD);
  mkdirSync(join(repo, 'blobs'), { recursive: true });
  mkdirSync(join(repo, 'refs'));
  mkdirSync(SNAPSHOT, { recursive: true });
  writeFileSync(join(repo, 'blobs', blob), PAYLOAD);
  writeFileSync(join(repo, 'refs/main'), '0123456789abcdef0123456789abcdef01234567');
  writeFileSync(join(SNAPSHOT, 'config.json'), '{"model_type": "tiny"}\n');
  symlinkSync(`../../blobs/${blob}`, join(SNAPSHOT, 'pytorch_model.bin'));
  mkdirSync(join(work, 'escape/outside'), { recursive: true });
  mkdirSync(ESCAPE);
  writeFileSync(join(work, 'escape/outside/payload.pkl'), PAYLOAD);
  writeFileSync(join(ESCAPE, 'config.json'), '{"model_type": "tiny"}\n');
  symlinkSync('../outside/payload.pkl', join(ESCAPE, 'weights.pkl'));
}
buildFolders();
const ownStagings = () => readdirSync(stageBase()).filter((n) => n.startsWith(`${process.pid}-`));

function vetJson(args: string[]): { code: number | null; report: Report } {
  const r = ltrack(['vet', ...args, '--format', 'json']);
  expect(r.stdout, r.stderr).toMatch(/^\{/);
  return { code: r.code, report: JSON.parse(r.stdout) as Report };
}
const execsTrue = (r: Report) => r.observed.exec.some((e) => /(^|\/)true$/.test(e.path));

describe('bad input: anything not a regular file or folder is exit 2, before any read', () => {
  const fifo = join(work, 'weights.pkl');
  spawnSync('mkfifo', [fifo]);
  const folder = join(work, 'folder');
  mkdirSync(folder);
  copyFileSync(join(FIXTURES, 'benign/data.pkl'), join(folder, 'data.pkl'));
  spawnSync('mkfifo', [join(folder, 'pipe.bin')]);

  it.each([
    ['a FIFO', fifo, fifo],
    ['/dev/zero', '/dev/zero', '/dev/zero'],
    ['/dev/urandom', '/dev/urandom', '/dev/urandom'],
    ['a FIFO inside a folder', folder, join(folder, 'pipe.bin')],
  ])('%s', (_what, arg, named) => {
    // a hang would hit the spawn's timeout and fail on the exit code (null), not on a clock
    const r = ltrack(['vet', arg], { timeoutMs: 60_000 });
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(named);
    expect(lines[0]).toMatch(/not a regular file/);
  });

  it('a socket, and a FIFO as --deps', async () => {
    const sock = join(work, 'model.sock');
    const server = createServer();
    await new Promise<void>((res) => server.listen(sock, res));
    try {
      const r = ltrack(['vet', sock], { timeoutMs: 60_000 });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/model\.sock: not a regular file or folder \(a socket\)/);
    } finally {
      server.close();
    }
    const d = ltrack(['vet', join(FIXTURES, 'benign/data.pkl'), '--deps', fifo, '--static-only'], { timeoutMs: 60_000 });
    expect(d.code).toBe(2);
    expect(d.stderr).toContain(fifo);
    expect(ownStagings()).toEqual([]);
  });
});

describe('files nobody analysed: harmful when loaded unchecked, blocked by ltrack vet', () => {
  it.each(['proto1_system.pkl', 'int_first_system.pkl', 'long1_first_system.pkl'])('%s', async (name) => {
    const path = join(F, name);
    const unchecked = await loadUnchecked({ models: [{ hostPath: path, format: 'pickle' }] });
    expect(ranTrue(unchecked.events)).toBe(true);
    const { code, report } = vetJson([path, '--sandbox', 'docker']);
    expect(code).toBe(1);
    expect(report.targets[0]).toMatchObject({ format: 'pickle' });
    expect(report.findings.some((f) => f.ruleId === 'LT-PKL-001')).toBe(true);
  });

  it('an HF cache snapshot (weights are symlinks into blobs/): the link is resolved, scanned and its staged copy loaded', async () => {
    const link = join(SNAPSHOT, 'pytorch_model.bin');
    const unchecked = await loadUnchecked({ models: [{ hostPath: link, format: 'pickle' }] });
    expect(ranTrue(unchecked.events)).toBe(true);
    const { code, report } = vetJson([SNAPSHOT, '--sandbox', 'docker']);
    expect(code).toBe(1);
    const t = report.targets.find((x) => x.path.endsWith('pytorch_model.bin'));
    expect(t).toMatchObject({ format: 'pickle', linkTo: expect.stringMatching(/^blobs\//) as string });
    expect(t!.sha256).toBe(sha(readFileSync(link)));
    expect(report.findings.some((f) => f.ruleId === 'LT-PKL-001' && f.location?.file === link)).toBe(true);
    // the sandbox loaded the staged copy of the link: its payload ran there, traced
    expect(execsTrue(report)).toBe(true);
    expect(report.targets.map((x) => x.path.slice(SNAPSHOT.length + 1)).sort()).toEqual(['config.json', 'pytorch_model.bin']);
  });

  it('a symlink leaving the candidate folder: harmful where it points, a blocking finding in the folder', async () => {
    const link = join(ESCAPE, 'weights.pkl');
    const unchecked = await loadUnchecked({ models: [{ hostPath: link, format: 'pickle' }] });
    expect(ranTrue(unchecked.events)).toBe(true);
    const { code, report } = vetJson([ESCAPE, '--sandbox', 'docker']);
    expect(code).toBe(1);
    expect(report.findings.find((f) => f.ruleId === 'LT-LINK-001')).toMatchObject({ severity: 'high', location: { file: link } });
    expect(report.skipped).toEqual([expect.objectContaining({ path: link, effect: 'finding' })]);
    expect(report.targets.some((t) => t.path === link)).toBe(false);
  });

  it('an unanalysed file a loader opens by name makes the verdict incomplete, never pass', () => {
    const dir = join(work, 'opaque');
    mkdirSync(dir);
    copyFileSync(join(FIXTURES, 'benign/data.pkl'), join(dir, 'data.pkl'));
    writeFileSync(join(dir, 'pytorch_model.bin'), Buffer.from('\x00\x01opaque weights\x02', 'latin1'));
    const { code, report } = vetJson([dir, '--sandbox', 'docker']);
    expect(code).toBe(3);
    expect(report.verdict.status).toBe('incomplete');
    expect(report.verdict.reasons.some((r) => r.includes('pytorch_model.bin') && /loader opens it by its name/.test(r))).toBe(true);
  });
});

describe("':' and ',' in a file name: structured mounts load it", () => {
  const path = join(F, 'colon:name,1.pkl');
  it.each(['docker', 'bwrap'] as const)('%s', async (driver) => {
    const unchecked = await loadUnchecked({ driver, models: [{ hostPath: path, format: 'pickle' }] });
    expect(unchecked.incomplete).toEqual([]);
    expect(ranTrue(unchecked.events)).toBe(true);
    const { code, report } = vetJson([path, '--sandbox', driver]);
    expect(code).toBe(1);
    // blocked by what the sandbox saw too, not only the static rule: the file really was mounted and loaded
    expect(execsTrue(report)).toBe(true);
    expect(report.findings.some((f) => f.source === 'dynamic')).toBe(true);
  });
});

describe('time of check / time of use: a file rewritten during the vet changes nothing that runs', () => {
  // docker: the user's file is rewritten in place (same inode) when the tracer is attached — static
  // analysis is over and the container is built, held before its first instruction: the moment a
  // bind of the user's own path would show the new bytes to the loader. bwrap: the file is replaced
  // by a new one (rename) as soon as staging is done, before static analysis reads anything.
  it.each([
    ['docker', 'a file', 'tracer attached'],
    ['bwrap', 'a folder', 'static analysis'],
  ] as const)('%s, candidate given as %s, swapped at "%s"', async (driver, given, moment) => {
    const asFolder = given === 'a folder';
    const dir = join(work, `toctou-${driver}`);
    mkdirSync(dir);
    const model = join(dir, 'model.pkl');
    copyFileSync(join(FIXTURES, 'benign/data.pkl'), model);
    const benign = readFileSync(model);
    const evil = PAYLOAD;
    let swapped = false;
    const out = await vet({
      paths: [asFolder ? dir : model],
      staticOnly: false,
      sandbox: driver,
      network: 'none',
      timeoutSec: 120,
      failOn: 'high',
      onProgress: (m) => {
        if (swapped || !m.startsWith(moment)) return;
        if (moment === 'tracer attached') writeFileSync(model, evil);
        else {
          writeFileSync(`${model}.new`, evil);
          renameSync(`${model}.new`, model);
        }
        swapped = true;
      },
    });
    expect(swapped).toBe(true);
    expect(readFileSync(model).equals(evil)).toBe(true);
    // what ran is what was scanned: the benign bytes; no payload ran, and the report says so
    expect(ranTrue(out.events)).toBe(false);
    expect(out.report.stats.sandbox).toBe(driver);
    expect(out.report.targets.find((t) => t.path === model)).toMatchObject({ sha256: sha(benign), format: 'pickle' });
    expect(out.report.verdict.status).toBe('pass');
    expect(ownStagings()).toEqual([]);
    // the manifest binds the vetted digest: the rewritten file cannot be signed
    await expect(buildManifest(out.report, { files: [model] })).rejects.toThrow(/changed since it was vetted/);
    // and the bytes now on disk are harmful when loaded: the swap would have mattered
    const unchecked = await loadUnchecked({ driver, models: [{ hostPath: model, format: 'pickle' }] });
    expect(ranTrue(unchecked.events)).toBe(true);
  });
});

describe('time of check / time of use: a large file is mounted where it lies, and held to what was analysed', () => {
  // A pickle of one 64 MiB bytes constant: large enough to be bind-mounted from the vet's open
  // descriptor instead of copied (src/intake/mount-in-place.ts).
  const bigPickle = () => {
    const n = MOUNT_IN_PLACE;
    const head = Buffer.alloc(11);
    head.write('\x80\x04\x8e', 0, 'latin1');
    head.writeBigUInt64LE(BigInt(n), 3);
    return Buffer.concat([head, Buffer.alloc(n, 0x41), Buffer.from('.', 'latin1')]);
  };
  const mountsUnderStaging = () =>
    readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .filter((l) => l.split(' ')[4]?.startsWith(stageBase() + '/'));

  /** Vets a large model at `dir/model.pkl`, calling `swap` once at the first progress line starting with `moment`; resolves to the vet's error. */
  async function vetSwapped(dir: string, driver: 'docker' | 'bwrap', moment: string, swap: (model: string) => void): Promise<{ model: string; err: unknown }> {
    mkdirSync(dir);
    const model = join(dir, 'model.pkl');
    writeFileSync(model, bigPickle(), { mode: 0o644 });
    let swapped = false;
    const err = await vet({
      paths: [model],
      staticOnly: false,
      sandbox: driver,
      network: 'none',
      timeoutSec: 120,
      failOn: 'high',
      onProgress: (m) => {
        if (swapped || !m.startsWith(moment)) return;
        swap(model);
        swapped = true;
      },
    }).catch((e: unknown) => e);
    expect(swapped).toBe(true);
    return { model, err };
  }

  it.each(['docker', 'bwrap'] as const)('%s: rewritten in place while the sandbox runs it, the vet fails naming the file; no report', async (driver) => {
    // at the tracer's attach: what a bind of the user's inode shows the loader, the harness not yet started
    const { model, err } = await vetSwapped(join(work, `mounted-write-${driver}`), driver, 'tracer attached', (m) => writeFileSync(m, PAYLOAD));
    expect(err).toMatchObject({ code: 'bad_input', file: model });
    expect((err as Error).message).toMatch(/changed while it was being vetted/);
    expect(ownStagings()).toEqual([]);
    expect(mountsUnderStaging()).toEqual([]);
  });

  it('replaced by another file (rename) after staging: the mounted original was unlinked, and that too fails the vet', async () => {
    const { model, err } = await vetSwapped(join(work, 'mounted-rename'), 'docker', 'static analysis', (m) => {
      writeFileSync(`${m}.new`, PAYLOAD);
      renameSync(`${m}.new`, m);
    });
    // the unlink moved the original's ctime: what the sandbox would load is still the original, but
    // the vet does not report on a file the user no longer has
    expect(err).toMatchObject({ code: 'bad_input', file: model });
    expect(ownStagings()).toEqual([]);
    expect(mountsUnderStaging()).toEqual([]);
  });
});
