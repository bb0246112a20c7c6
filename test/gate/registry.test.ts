import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRepoId, checkRepoPath, checkRevision, parseRepoRef } from '../../src/gate/names.js';
import { Registry } from '../../src/gate/registry.js';
import { parseRange, parseRoute } from '../../src/gate/serve.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lt-gate-reg-'));
});
afterAll(async () => rm(work, { recursive: true, force: true }));

describe('registry promotion', () => {
  it('a promotion that fails part-way leaves no snapshot and no ref visible', async () => {
    const reg = new Registry(join(work, 'reg-fail'));
    const good = join(work, 'good.bin');
    await writeFile(good, 'vetted bytes');
    const commit = 'c'.repeat(40);
    const files = [
      { path: 'a.bin', etag: 'a'.repeat(64), source: good, sha256: 'x', private: true },
      { path: 'b.bin', etag: 'b'.repeat(64), source: join(work, 'vanished.bin'), sha256: 'y', private: true },
    ];
    await expect(reg.promote('org/m', commit, 'main', files)).rejects.toThrow(/cannot write a blob/);
    expect(await readdir(join(reg.repoDir('org/m'), 'snapshots'))).toEqual([]);
    expect(existsSync(join(reg.repoDir('org/m'), 'refs', 'main'))).toBe(false);
    // no temporary blob is left under a name a loader could reach
    expect((await readdir(join(reg.repoDir('org/m'), 'blobs'))).every((n) => /^[0-9a-f]{64}$/.test(n))).toBe(true);
  });

  it("a user's file that changed since it was vetted is not promoted", async () => {
    const reg = new Registry(join(work, 'reg-changed'));
    const src = join(work, 'user.bin');
    await writeFile(src, 'rewritten after the vet');
    const files = [{ path: 'm.bin', etag: 'd'.repeat(64), source: src, sha256: '0'.repeat(64), private: false }];
    await expect(reg.promote('org/m', 'e'.repeat(40), 'main', files)).rejects.toThrow(/changed since it was vetted/);
    expect(existsSync(reg.snapshotDir('org/m', 'e'.repeat(40)))).toBe(false);
  });

  it('the commit lock is exclusive, and taken over from a holder that died', async () => {
    const reg = new Registry(join(work, 'reg-lock'));
    const unlock = await reg.lock('org/m', 'f'.repeat(40));
    let second = false;
    const waiting = reg.lock('org/m', 'f'.repeat(40), { pollMs: 20 }).then((u) => {
      second = true;
      return u;
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(second).toBe(false);
    await unlock();
    await (
      await waiting
    )();
    // a lock file left by a process of this host that is gone
    const { hostname } = await import('node:os');
    const lockFile = join(reg.root, '.ltrack', 'locks', `models--org--m--${'f'.repeat(40)}.lock`);
    await writeFile(lockFile, `${hostname()} 2147483646\n`);
    await (
      await reg.lock('org/m', 'f'.repeat(40), { pollMs: 20 })
    )();
  });
});

describe('names from the Hub and from clients', () => {
  it('accepts what the Hub accepts', () => {
    expect(parseRepoRef('org/model-1.5@refs/pr/3')).toEqual({ repo: 'org/model-1.5', revision: 'refs/pr/3' });
    expect(parseRepoRef('gpt2')).toEqual({ repo: 'gpt2', revision: 'main' });
    expect(checkRepoPath('onnx/model.onnx')).toBe('onnx/model.onnx');
  });

  it('refuses anything that could leave the registry or forge a segment', () => {
    for (const id of ['../x', 'a/../b', 'a/b/c', '/abs', 'a--b', '.hidden', 'a b', '']) expect(() => checkRepoId(id), id).toThrow();
    for (const rev of ['..', 'a/../b', '/main', 'main/', 'x.lock', 'a\\b', '']) expect(() => checkRevision(rev), rev).toThrow();
    for (const p of ['../x', 'a/../../b', '/etc/passwd', 'a//b', 'a/./b', 'a\\b', 'a\0b', '']) expect(() => checkRepoPath(p), JSON.stringify(p)).toThrow();
  });

  it('a route parsed from any request path never names a path that climbs or is absolute (property)', () => {
    const segment = fc.oneof(fc.constantFrom('..', '.', '', 'api', 'models', 'resolve', 'revision', 'tree', 'main', 'org', 'x.bin', '%2e%2e', '..%2F..', '%2F', '%00'), fc.string({ maxLength: 8 }));
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 8 }), fc.constantFrom('GET', 'HEAD', 'POST', 'PUT'), (segs, method) => {
        const route = parseRoute(`/${segs.join('/')}`, method);
        if (!route) return;
        const target = resolve('/reg/snap', route.kind === 'file' ? route.path : '.');
        expect(target === '/reg/snap' || target.startsWith('/reg/snap/')).toBe(true);
        expect(route.repo.split('/').every((s) => s !== '..' && s !== '.' && s !== '')).toBe(true);
        expect(route.revision.split('/').includes('..')).toBe(false);
        if (method === 'PUT') expect.unreachable();
      }),
      { numRuns: 20_000 },
    );
  });

  it('ranges: one range served, several or malformed ones mean the whole file, past the end is unsatisfiable', () => {
    expect(parseRange('bytes=0-0', 10)).toEqual([0, 0]);
    expect(parseRange('bytes=5-', 10)).toEqual([5, 9]);
    expect(parseRange('bytes=-3', 10)).toEqual([7, 9]);
    expect(parseRange('bytes=2-100', 10)).toEqual([2, 9]);
    expect(parseRange('bytes=10-', 10)).toBe('unsatisfiable');
    expect(parseRange('bytes=0-1,4-5', 10)).toBeUndefined();
    expect(parseRange('items=0-1', 10)).toBeUndefined();
    expect(parseRange(undefined, 10)).toBeUndefined();
  });
});
