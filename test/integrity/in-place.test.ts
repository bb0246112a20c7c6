import { spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import {
  appendFileSync,
  closeSync,
  ftruncateSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listInPlace, PinnedFile } from '../../src/intake/in-place.js';
import { stageBase } from '../../src/intake/stage.js';
import { scanPaths, scanStaged } from '../../src/static/index.js';
import { ltrack } from '../helpers/cli.js';
import { mappedWriter } from '../helpers/mapped-writer.js';

// A static-only vet reads the user's files where they lie (src/intake/in-place.ts): no copy, but
// every file must be the one listed from its listing until its analysis is done, and the digest
// reported must be of the bytes analysed.

const work = mkdtempSync(join(tmpdir(), 'ltrack-in-place-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const ownStagings = () => readdirSync(stageBase()).filter((n) => n.startsWith(`${process.pid}-`));
const PAYLOAD = Buffer.from("cos\nsystem\n(S'/bin/true'\ntR.", 'latin1');
const BENIGN = Buffer.from('\x80\x04K\x01.', 'latin1');

function mkfifo(path: string): void {
  const r = spawnSync('mkfifo', [path]);
  if (r.status !== 0) throw new Error(`mkfifo failed: ${r.stderr.toString()}`);
}

describe('reading in place: pinned, hashed from the bytes analysed, never copied', () => {
  it('a folder is analysed and hashed where it lies: no staging area, the files untouched', async () => {
    const dir = join(work, 'folder');
    mkdirSync(join(dir, 'sub'), { recursive: true });
    writeFileSync(join(dir, 'evil.pkl'), PAYLOAD);
    writeFileSync(join(dir, 'sub', 'ok.pkl'), BENIGN);
    const mid = Buffer.alloc(3 << 20, 9); // above the whole-file size: hashed from the descriptor
    writeFileSync(join(dir, 'weights.bin'), mid);
    const before = statSync(join(dir, 'evil.pkl'), { bigint: true });
    const stagingsBefore = ownStagings();
    const r = await scanPaths([dir]);
    expect(ownStagings()).toEqual(stagingsBefore);
    const byName = Object.fromEntries(r.targets.map((t) => [t.path.slice(dir.length + 1), t]));
    expect(byName['evil.pkl']).toMatchObject({ sha256: sha(PAYLOAD), size: PAYLOAD.length, format: 'pickle' });
    expect(byName['sub/ok.pkl']).toMatchObject({ sha256: sha(BENIGN), format: 'pickle' });
    expect(byName['weights.bin']).toMatchObject({ sha256: sha(mid), size: mid.length });
    expect(r.detections.some((d) => d.ruleId === 'LT-PKL-001' && d.location?.file === join(dir, 'evil.pkl'))).toBe(true);
    const after = statSync(join(dir, 'evil.pkl'), { bigint: true });
    expect([after.mtimeNs, after.ctimeNs, after.size]).toEqual([before.mtimeNs, before.ctimeNs, before.size]);
    expect(readFileSync(join(dir, 'evil.pkl')).equals(PAYLOAD)).toBe(true);
  });

  it('a file rewritten between its listing and its analysis is an error naming it, not a report', async () => {
    const dir = join(work, 'rewritten');
    mkdirSync(dir);
    writeFileSync(join(dir, 'a.pkl'), BENIGN);
    writeFileSync(join(dir, 'b.pkl'), BENIGN);
    const listed = await listInPlace([dir], { maxFiles: 10 });
    writeFileSync(join(dir, 'b.pkl'), PAYLOAD); // same inode, new bytes
    const err = await scanStaged(listed).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'bad_input', file: join(dir, 'b.pkl') });
    expect((err as Error).message).toMatch(/changed while it was being vetted/);
  });

  it('a file swapped for another, a symlink or a FIFO after listing is refused without blocking', async () => {
    for (const swap of ['file', 'symlink', 'fifo'] as const) {
      const dir = join(work, `swap-${swap}`);
      mkdirSync(dir);
      const f = join(dir, 'model.pkl');
      writeFileSync(f, BENIGN);
      writeFileSync(join(dir, 'other.pkl'), PAYLOAD);
      const listed = await listInPlace([f], { maxFiles: 10 });
      unlinkSync(f);
      if (swap === 'file') writeFileSync(f, BENIGN); // identical bytes, another inode
      if (swap === 'symlink') symlinkSync(join(dir, 'other.pkl'), f);
      if (swap === 'fifo') mkfifo(f);
      const err = await scanStaged(listed).catch((e: unknown) => e);
      expect(err, swap).toMatchObject({ code: 'bad_input', file: f });
    }
  });

  it('a write after the file was opened is caught once its analysis is done', async () => {
    const f = join(work, 'late.pkl');
    writeFileSync(f, BENIGN);
    const pinned = new PinnedFile((await listInPlace([f], { maxFiles: 10 })).files[0]!);
    try {
      expect(() => pinned.assertUnchanged()).not.toThrow();
      appendFileSync(f, 'x');
      expect(() => pinned.assertUnchanged()).toThrow(/changed while it was being vetted/);
    } finally {
      await pinned.close();
    }
  });

  it('a large file is hashed on a worker from the pinned descriptor: the digest sha256sum gives; a file cut short is refused', async () => {
    const big = join(work, 'big.bin');
    const size = (80 << 20) + 12345; // over the worker threshold
    const fd = openSync(big, 'w');
    ftruncateSync(fd, size);
    writeSync(fd, Buffer.from('end'), 0, 3, size - 3);
    closeSync(fd);
    const expected = spawnSync('sha256sum', [big], { encoding: 'utf8' }).stdout.split(' ')[0];
    const r = await scanPaths([big]);
    expect(r.targets[0]).toMatchObject({ sha256: expected, size });
    const listed = await listInPlace([big], { maxFiles: 10 });
    const pinned = new PinnedFile(listed.files[0]!);
    truncateSync(big, size - 1);
    await expect(pinned.sha256().then(() => pinned.assertUnchanged())).rejects.toThrow(/changed while it was being vetted/);
    await pinned.close();
  });

  it('a large file is synced when opened: a store through a shared writable mapping made before the vet is caught', async () => {
    const big = join(work, 'mapped.bin');
    const fd = openSync(big, 'w');
    ftruncateSync(fd, 2 << 20); // over WHOLE_FILE: analysed and hashed in two reads
    closeSync(fd);
    const writer = await mappedWriter(big);
    try {
      const pinned = new PinnedFile((await listInPlace([big], { maxFiles: 10 })).files[0]!);
      try {
        expect(() => pinned.assertUnchanged()).not.toThrow();
        await writer.store();
        expect(() => pinned.assertUnchanged()).toThrow(/changed while it was being vetted/);
      } finally {
        await pinned.close();
      }
    } finally {
      writer.stop();
    }
  });

  it('the CLI reads a static-only vet in place, and stages copies when the vet signs a manifest', () => {
    const f = join(work, 'cli.pkl');
    writeFileSync(f, BENIGN);
    const plain = ltrack(['vet', '--static-only', f], { env: { LTRACK_PROGRESS: '1' } });
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stderr).toMatch(/reading 1 file in place/);
    expect(plain.stderr).not.toMatch(/staging/);
    const key = join(work, 'key.pem');
    writeFileSync(key, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    const signed = ltrack(['vet', '--static-only', f, '--sign-key', key, '--out', join(work, 'out')], { env: { LTRACK_PROGRESS: '1' } });
    expect(signed.code, signed.stderr).toBe(0);
    expect(signed.stderr).toMatch(/staging 1 file/);
    expect(readdirSync(join(work, 'out'))).toContain('manifest.dsse.json');
  });
});
