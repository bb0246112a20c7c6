import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ltrackAsync } from '../helpers/cli.js';

/** `ltrack sandbox export/import`: the sandbox as one tarball a CI cache keeps, per recipe digest. */
let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lt-sandbox-cache-'));
});
afterAll(async () => rm(work, { recursive: true, force: true }));

describe('ltrack sandbox export / import', () => {
  it('exports the built sandbox, restores it onto an empty disk, and a bwrap vet runs from the restored rootfs', async () => {
    const tarball = join(work, 'sandbox.tar');
    const exported = await ltrackAsync(['sandbox', 'export', tarball]);
    expect(exported.code, exported.stderr).toBe(0);
    const digest = /recipe (\w+)/.exec(exported.stdout)![1]!;
    expect(execFileSync('tar', ['-tf', tarball], { encoding: 'utf8', maxBuffer: 1 << 30 })).toContain(`rootfs-${digest}/.ltrack-rootfs-done`);
    // the real rootfs stays where it is: the restore goes to another folder
    // the sandbox's uid must traverse to the rootfs: a world-searchable folder, as /var/lib/ltrack is
    const disk = join(work, 'restored');
    await mkdir(disk);
    await chmod(work, 0o755);
    const env = { LTRACK_ROOTFS_DIR: disk };
    const restored = await ltrackAsync(['sandbox', 'import', tarball], { env });
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stdout).toMatch(/restored; image ltrack-sandbox:/);
    expect(existsSync(join(disk, `rootfs-${digest}`, '.ltrack-rootfs-done'))).toBe(true);
    const again = await ltrackAsync(['sandbox', 'import', tarball], { env });
    expect(again.stdout).toMatch(/already present/);
    const vet = await ltrackAsync(['vet', '--sandbox', 'bwrap', join('fixtures', 'out', 'benign', 'array.npy'), '--format', 'json'], { env });
    expect(vet.code, vet.stderr).toBe(0);
  });

  it('refuses a tarball of another recipe, naming it (exit 2)', async () => {
    const other = join(work, 'other');
    await mkdir(join(other, 'rootfs-0123456789ab'), { recursive: true });
    await writeFile(join(other, 'rootfs-0123456789ab', '.ltrack-rootfs-done'), '');
    const tarball = join(work, 'other.tar');
    execFileSync('tar', ['-C', other, '-cf', tarball, 'rootfs-0123456789ab']);
    const r = await ltrackAsync(['sandbox', 'import', tarball], { env: { LTRACK_ROOTFS_DIR: join(work, 'never') } });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/other\.tar: holds rootfs-0123456789ab, this checkout's recipe needs rootfs-\w+/);
    expect(existsSync(join(work, 'never', 'rootfs-0123456789ab'))).toBe(false);
  });
});
