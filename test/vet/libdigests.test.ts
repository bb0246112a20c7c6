import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { rootfsDigests } from '../../src/vet/libdigests.js';

describe('digests of the image rootfs libraries, remembered across vets', () => {
  it('hashes once, reuses the entry while size and mtime hold, hashes again when they change', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'ltrack-libd-'));
    const rootfs = join(parent, 'rootfs-abc123');
    mkdirSync(join(rootfs, 'usr/lib'), { recursive: true });
    writeFileSync(join(rootfs, 'usr/lib/libx.so'), 'library bytes');
    const sha = createHash('sha256').update('library bytes').digest('hex');
    const first = await rootfsDigests(rootfs, ['/usr/lib/libx.so', '/tmp/gone.so']);
    expect([...first.digests]).toEqual([['/usr/lib/libx.so', sha]]);
    expect(first.failed).toEqual([]); // a library of the run's tmpfs is simply not in the rootfs

    // The second vet reads the remembered entry (proved by planting a marker digest in it)…
    const cacheFile = join(parent, 'libdigests-abc123.json');
    const cache = JSON.parse(readFileSync(cacheFile, 'utf8')) as Record<string, { sha256: string }>;
    cache['/usr/lib/libx.so']!.sha256 = 'f'.repeat(64);
    writeFileSync(cacheFile, JSON.stringify(cache));
    expect((await rootfsDigests(rootfs, ['/usr/lib/libx.so'])).digests.get('/usr/lib/libx.so')).toBe('f'.repeat(64));

    // …until the file is not the one it was taken of.
    utimesSync(join(rootfs, 'usr/lib/libx.so'), new Date(0), new Date(1000));
    expect((await rootfsDigests(rootfs, ['/usr/lib/libx.so'])).digests.get('/usr/lib/libx.so')).toBe(sha);
  });

  it('names the libraries it could not hash, so the vet can say it is incomplete', async () => {
    const rootfs = join(mkdtempSync(join(tmpdir(), 'ltrack-libd-')), 'rootfs-def456');
    mkdirSync(join(rootfs, 'usr/lib'), { recursive: true });
    writeFileSync(join(rootfs, 'usr/lib/liby.so'), 'y');
    symlinkSync('libloop.so', join(rootfs, 'usr/lib/libloop.so')); // stat fails with ELOOP
    const { digests, failed } = await rootfsDigests(rootfs, ['/usr/lib/liby.so', '/usr/lib/libloop.so']);
    expect([...digests.keys()]).toEqual(['/usr/lib/liby.so']);
    expect(failed).toEqual(['/usr/lib/libloop.so']);
  });
});
