import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generaliseReads, readAllowed, sha256Files, signKeyless, type Statement } from '../../src/manifest/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ltrack-hash-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe('sha256Files', () => {
  it('gives the plain sha256 of each file on the worker path, with progress summing to the total', async () => {
    // Over the inline threshold (64 MiB in all) so the worker pool is used.
    const blobs = [randomBytes(40 << 20), randomBytes(30 << 20), randomBytes(1)];
    const paths = await Promise.all(
      blobs.map(async (b, i) => {
        const p = join(dir, `f${i}`);
        await writeFile(p, b);
        return p;
      }),
    );
    let last = 0;
    let total = 0;
    const got = await sha256Files(paths, (done, t) => {
      expect(done).toBeGreaterThanOrEqual(last);
      last = done;
      total = t;
    });
    blobs.forEach((b, i) => expect(got.get(paths[i]!)).toBe(createHash('sha256').update(b).digest('hex')));
    expect(last).toBe(total);
    expect(total).toBe((70 << 20) + 1);
  });
  it('names an unreadable file', async () => {
    await expect(sha256Files([join(dir, 'absent')])).rejects.toThrow(/cannot read for hashing/);
  });
});

describe('generaliseReads', () => {
  it('collapses packages and the runtime to prefixes and keeps other paths exact', () => {
    const out = generaliseReads([
      '/usr/lib/python3/dist-packages/numpy/core/multiarray.py',
      '/usr/lib/python3/dist-packages/numpy/__init__.py',
      '/usr/lib/python3/dist-packages/six.py',
      '/tmp/ltrack/prefix/lib/python3.11/site-packages/evilpkg/__init__.py',
      '/usr/lib/python3.11/json/decoder.py',
      '/proc/123/status',
      '/proc/self/maps',
      '/candidate/model.pt',
      '/etc/ld.so.cache',
    ]);
    expect(out).toEqual([
      '/candidate/model.pt',
      '/etc/ld.so.cache',
      '/proc/',
      '/tmp/ltrack/prefix/lib/python3.11/site-packages/evilpkg/',
      '/usr/lib/python3.11/',
      '/usr/lib/python3/dist-packages/numpy/',
      '/usr/lib/python3/dist-packages/six.py',
    ]);
    expect(readAllowed(out, '/usr/lib/python3/dist-packages/numpy/linalg/x.py')).toBe(true);
    expect(readAllowed(out, '/usr/lib/python3/dist-packages/numpyevil/x.py')).toBe(false);
    expect(readAllowed(out, '/home/ltrack/.ssh/id_rsa')).toBe(false);
  });
  it('collapses a folder read file by file beyond a bound', () => {
    const many = Array.from({ length: 40 }, (_, i) => `/usr/share/zoneinfo/f${i}`);
    expect(generaliseReads(many)).toEqual(['/usr/share/zoneinfo/']);
  });
});

describe('keyless Sigstore signing (up to the network boundary)', () => {
  let oidc: Server;
  let oidcUrl: string;
  let asked = 0;
  beforeAll(async () => {
    // Stands in for GitHub's OIDC token endpoint, on loopback; Fulcio is a closed loopback port.
    oidc = createServer((req, res) => {
      asked++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ value: 'header.eyJzdWIiOiJ0ZXN0In0.sig' }));
    });
    await new Promise<void>((r) => oidc.listen(0, '127.0.0.1', r));
    const addr = oidc.address();
    oidcUrl = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/token`;
  });
  afterAll(() => new Promise<void>((r) => oidc.close(() => r())));

  const statement = { _type: 'https://in-toto.io/Statement/v1', subject: [], predicateType: 'x', predicate: {} } as unknown as Statement;

  it('refuses without an OIDC identity', async () => {
    const saved = { ...process.env };
    delete process.env.ACTIONS_ID_TOKEN_REQUEST_URL;
    delete process.env.SIGSTORE_ID_TOKEN;
    try {
      await expect(signKeyless(statement)).rejects.toThrow(/needs an OIDC identity/);
    } finally {
      process.env = saved;
    }
  });

  it('gets the Actions OIDC token, then fails at Fulcio with a network error it reports', async () => {
    const saved = { ...process.env };
    process.env.ACTIONS_ID_TOKEN_REQUEST_URL = oidcUrl;
    process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN = 'request-token';
    try {
      await expect(signKeyless(statement, { fulcioURL: 'http://127.0.0.1:9', rekorURL: 'http://127.0.0.1:9' })).rejects.toThrow(/keyless signing failed.*ECONNREFUSED 127.0.0.1:9/);
      expect(asked).toBeGreaterThan(0);
    } finally {
      process.env = saved;
    }
  });
});
