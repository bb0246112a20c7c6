import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, closeSync, existsSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeStagingDir, stageBase, stageCandidates } from '../../src/intake/stage.js';
import { MOUNT_IN_PLACE } from '../../src/intake/mount-in-place.js';
import { handOffDetach } from '../../src/trace/detach.js';
import { mappedWriter } from '../helpers/mapped-writer.js';

/**
 * A large candidate file is bind-mounted read-only from the descriptor the vet opened instead of
 * copied (src/intake/mount-in-place.ts); with the real mount(8) and kernel, as root.
 */
const work = mkdtempSync(join(tmpdir(), 'ltrack-mount-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const mountPoints = () =>
  readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((p) => p.startsWith(stageBase() + '/'));

/** A sparse file of the mount threshold with a marker at its end. */
function largeFile(name: string, mode = 0o644): string {
  const path = join(work, name);
  const fd = openSync(path, 'w', mode);
  ftruncateSync(fd, MOUNT_IN_PLACE);
  writeSync(fd, Buffer.from('end'), 0, 3, MOUNT_IN_PLACE - 3);
  closeSync(fd);
  return path;
}

describe('mounting large files in place', () => {
  it("mounts the user's inode read-only, copies nothing, and cleanup unmounts it", async () => {
    const src = largeFile('model.bin');
    const before = sha(readFileSync(src));
    const s = await stageCandidates([src], { maxFiles: 10, mountLarge: true });
    let staged: string;
    try {
      const f = s.files[0]!;
      expect(f.inPlace).toBeDefined();
      staged = f.staged;
      expect(staged.startsWith(stageBase() + '/')).toBe(true);
      expect(statSync(staged).ino).toBe(statSync(src).ino);
      expect(mountPoints()).toContain(staged);
      expect(() => appendFileSync(staged, 'x')).toThrow(/EROFS|EACCES|read-only/);
      s.assertUnchanged();
    } finally {
      await s.cleanup();
    }
    expect(mountPoints()).toEqual([]);
    expect(existsSync(staged)).toBe(false);
    expect(sha(readFileSync(src))).toBe(before);
  });

  it('two names of one large file in a folder (it and a symlink to it) are each mounted, and both unmounted', async () => {
    const dir = join(work, 'snapshot');
    mkdirSync(dir);
    const blob = largeFile('snapshot/blob.bin');
    symlinkSync('blob.bin', join(dir, 'model.bin'));
    const s = await stageCandidates([dir], { maxFiles: 10, mountLarge: true });
    try {
      expect(s.files.map((f) => [basename(f.path), f.inPlace !== undefined, statSync(f.staged).ino === statSync(blob).ino]).sort()).toEqual([
        ['blob.bin', true, true],
        ['model.bin', true, true],
      ]);
      expect(mountPoints()).toHaveLength(2);
    } finally {
      await s.cleanup();
    }
    expect(mountPoints()).toEqual([]);
  });

  it("a write to the user's file after it was mounted is caught, naming the file", async () => {
    const src = largeFile('written.bin');
    const s = await stageCandidates([src], { maxFiles: 10, mountLarge: true });
    try {
      expect(s.files[0]!.inPlace).toBeDefined();
      const fd = openSync(src, 'r+');
      writeSync(fd, Buffer.from('X'), 0, 1, 100); // same size, same inode: only the timestamps say
      closeSync(fd);
      let err: unknown;
      try {
        s.assertUnchanged();
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code: 'bad_input', file: src });
      expect((err as Error).message).toMatch(/changed while it was being vetted/);
    } finally {
      await s.cleanup();
    }
  });

  it('a store through a shared writable mapping made before the vet is caught too', async () => {
    const src = largeFile('mapped.bin');
    const writer = await mappedWriter(src);
    try {
      const s = await stageCandidates([src], { maxFiles: 10, mountLarge: true });
      try {
        expect(s.files[0]!.inPlace).toBeDefined();
        s.assertUnchanged();
        await writer.store();
        expect(() => s.assertUnchanged()).toThrow(/changed while it was being vetted/);
      } finally {
        await s.cleanup();
      }
    } finally {
      writer.stop();
    }
  });

  it('copies a file the sandbox user could not read, and a file under the threshold', async () => {
    const secret = largeFile('private.bin', 0o600);
    const small = join(work, 'small.bin');
    writeFileSync(small, 'small', { mode: 0o644 });
    const s = await stageCandidates([secret, small], { maxFiles: 10, mountLarge: true });
    try {
      for (const f of s.files) {
        expect(f.inPlace).toBeUndefined();
        expect(statSync(f.staged).ino).not.toBe(statSync(f.source).ino);
      }
      expect(mountPoints()).toEqual([]);
    } finally {
      await s.cleanup();
    }
  });

  it("sweeps a dead process's staging area that still holds a mount: unmounted, then removed", async () => {
    const dead = spawnSync('/bin/true').pid; // exited: its pid names no live process
    const area = join(stageBase(), `${dead}-${'0'.repeat(16)}`);
    mkdirSync(join(area, 'c0'), { recursive: true });
    const target = join(area, 'c0', 'model.bin');
    writeFileSync(target, '');
    execFileSync('mount', ['--bind', '-o', 'ro', largeFile('swept.bin'), target]);
    expect(mountPoints()).toContain(target);
    const fresh = await makeStagingDir(); // sweeps stale areas first
    rmSync(fresh, { recursive: true, force: true });
    expect(mountPoints()).toEqual([]);
    expect(existsSync(area)).toBe(false);
  });
});

describe("the tracer's detach handed to a child", () => {
  it('the child holds the descriptors until it is let go, then exits', async () => {
    const path = join(work, 'held');
    writeFileSync(path, 'x');
    const fd = openSync(path, 'r');
    const hand = handOffDetach([fd]);
    closeSync(fd);
    expect(hand.pid).toBeDefined();
    const held = execFileSync('ls', ['-l', `/proc/${hand.pid}/fd`], { encoding: 'utf8' });
    expect(held).toContain(path);
    hand.letGo();
    await hand.exited;
    expect(existsSync(`/proc/${hand.pid}`)).toBe(false);
  });
});
