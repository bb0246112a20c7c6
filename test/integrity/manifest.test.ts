import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildManifest, decodeBase64Strict, generateKeyPair, parsePublicKeyPem, readSigningKey, signEd25519, verifyManifest, type Envelope } from '../../src/manifest/index.js';
import { REPORT_VERSION, type Report } from '../../src/core/report.js';
import { ltrack } from '../helpers/cli.js';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
/** A benign protocol-2 pickle of {"a": 1}. */
const PICKLE = Buffer.from([0x80, 0x02, 0x7d, 0x71, 0x00, 0x58, 0x01, 0x00, 0x00, 0x00, 0x61, 0x71, 0x01, 0x4b, 0x01, 0x73, 0x2e]);

let dir: string;
let models: string;
let priv: string;
let pub: string;
let env: Envelope;

function passingReport(targets: Report['targets']): Report {
  return {
    version: REPORT_VERSION,
    tool: { name: 'ltrack', version: '0' },
    startedAt: new Date().toISOString(),
    targets,
    verdict: { status: 'pass', severity: 'info', score: 0, failOn: 'high', reasons: [] },
    findings: [],
    observed: { filesRead: [], filesWritten: [], librariesMapped: [], exec: [], network: [], packages: [] },
    stats: { events: 0, drops: 0, tracerTiers: [], sandbox: 'none', durationsMs: {} },
    rulesetDigest: 'c'.repeat(64),
  };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ltrack-integrity-manifest-'));
  models = join(dir, 'models');
  await mkdir(join(models, 'sub'), { recursive: true });
  await writeFile(join(models, 'model.pt'), 'weights');
  await writeFile(join(models, 'sub', 'config.bin'), 'config');
  ({ privatePath: priv, publicPath: pub } = await generateKeyPair(join(dir, 'signer')));
  const files = [join(models, 'model.pt'), join(models, 'sub', 'config.bin')];
  const statement = await buildManifest(passingReport(files.map((f, i) => ({ path: f, sha256: sha(i === 0 ? 'weights' : 'config'), size: 6, format: 'unknown' }))), { files });
  env = signEd25519(statement, await readFile(priv, 'utf8'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

const verify = async (e: Envelope, opts: Parameters<typeof verifyManifest>[1] = { files: [models] }) => verifyManifest(JSON.stringify(e), { publicKey: await readFile(pub, 'utf8'), ...opts });

/** Spellings of the same bytes that a lenient decoder (Node's Buffer.from) accepts. */
function respellings(b64: string): string[] {
  const out = [b64.replace(/(.{8})/g, '$1\n'), ` ${b64}`, `${b64}\t`, b64.replace(/=+$/, ''), `${b64}=`, b64.replace(/\+/g, '-').replace(/\//g, '_')];
  const pad = b64.length - b64.replace(/=+$/, '').length;
  if (pad > 0) {
    // Set the unused low bits of the last data character: same bytes, another string.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const i = b64.length - pad - 1;
    const v = alphabet.indexOf(b64[i]!) | (pad === 1 ? 0b11 : 0b1111);
    out.push(b64.slice(0, i) + alphabet[v]! + b64.slice(i + 1));
  }
  return out.filter((s) => s !== b64);
}

describe('strict base64', () => {
  it('accepts exactly the canonical encoding of any bytes and no other spelling of them', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 200 }), (bytes) => {
        const b64 = Buffer.from(bytes).toString('base64');
        expect(decodeBase64Strict(b64)).toEqual(Buffer.from(bytes));
        for (const other of respellings(b64)) {
          // each respelling really is the same bytes to a lenient decoder (so the check matters) ...
          if (!other.includes('-') && !other.includes('_')) expect(Buffer.from(other, 'base64')).toEqual(Buffer.from(bytes));
          // ... and is refused
          expect(decodeBase64Strict(other)).toBeUndefined();
        }
      }),
      { numRuns: 5_000 },
    );
  });
  it('refuses arbitrary strings unless they re-encode to themselves', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (s) => {
        const d = decodeBase64Strict(s);
        return d === undefined || d.toString('base64') === s;
      }),
      { numRuns: 20_000 },
    );
  });
});

describe('DSSE envelope spellings', () => {
  it('an untouched envelope verifies', async () => {
    expect(await verify(env)).toMatchObject({ ok: true, filesChecked: 2 });
  });
  it('refuses a payload respelled in non-canonical base64 (same signed bytes)', async () => {
    for (const payload of respellings(env.payload)) {
      expect(await verify({ ...env, payload })).toEqual({ ok: false, reason: 'payload is not canonical base64' });
    }
  });
  it('refuses a signature respelled in non-canonical base64', async () => {
    const sig = env.signatures[0]!;
    for (const s of respellings(sig.sig)) {
      expect(await verify({ ...env, signatures: [{ keyid: sig.keyid, sig: s }] })).toEqual({ ok: false, reason: 'a signature is not canonical base64' });
    }
  });
});

describe('verification keys', () => {
  it('refuses a private key given as the verification key (it would yield its public half)', async () => {
    const pem = await readFile(priv, 'utf8');
    expect(() => parsePublicKeyPem(pem, priv)).toThrow(/is a private key/);
    await expect(verifyManifest(JSON.stringify(env), { publicKey: pem, files: [models] })).rejects.toThrow(/is a private key/);
  });
  it('refuses non-canonical PEM spellings of the right public key', async () => {
    const pem = await readFile(pub, 'utf8');
    expect(parsePublicKeyPem(pem).asymmetricKeyType).toBe('ed25519');
    const body = pem.split('\n')[1]!;
    const variants = [
      pem.replace(/\n/g, '\r\n'),
      pem.replace(body, `${body.slice(0, 20)}\n${body.slice(20)}`),
      pem.replace(body, ` ${body}`),
      `\n${pem}`,
      `${pem}trailing\n`,
      ...respellings(body)
        .filter((b) => !b.includes('\n'))
        .map((b) => pem.replace(body, b)),
    ];
    for (const v of variants) expect(() => parsePublicKeyPem(v), JSON.stringify(v)).toThrow(/PEM|base64|canonical/);
  });
  it('refuses keys of another algorithm', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
    expect(() => parsePublicKeyPem(ec)).toThrow(/not an Ed25519 key \(ec\)/);
  });
});

describe('signing keys (--sign-key)', () => {
  it('accepts the key `key generate` wrote', async () => {
    expect((await readSigningKey(priv)).asymmetricKeyType).toBe('ed25519');
  });
  it('refuses a key readable by group or others, a public key, an encrypted key, a FIFO and a missing file', async () => {
    const loose = join(dir, 'loose.key');
    await writeFile(loose, await readFile(priv), { mode: 0o640 });
    await chmod(loose, 0o640);
    await expect(readSigningKey(loose)).rejects.toThrow(/accessible by group or others \(mode 0640\)/);
    const pubAsKey = join(dir, 'pub-as.key');
    await writeFile(pubAsKey, await readFile(pub), { mode: 0o600 });
    await expect(readSigningKey(pubAsKey)).rejects.toThrow(/is a public key/);
    const enc = join(dir, 'enc.key');
    const { privateKey } = generateKeyPairSync('ed25519');
    await writeFile(enc, privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'x' }), { mode: 0o600 });
    await expect(readSigningKey(enc)).rejects.toThrow(/encrypted private key/);
    const fifo = join(dir, 'fifo.key');
    expect(spawnSync('mkfifo', ['-m', '600', fifo]).status).toBe(0);
    await expect(readSigningKey(fifo)).rejects.toThrow(/not a regular file/);
    await expect(readSigningKey(join(dir, 'absent.key'))).rejects.toThrow(/cannot read signing key/);
  });
});

describe('binding to the model files', () => {
  it('is invalid without model files unless signature-only was asked for, and says which it did', async () => {
    expect(await verify(env, {})).toMatchObject({ ok: false, reason: /no model files given/ });
    expect(await verify(env, { signatureOnly: true })).toMatchObject({ ok: true, filesChecked: 0 });
  });
  it('names files added to the folder after signing, at any depth', async () => {
    await writeFile(join(models, 'extra.pkl'), PICKLE);
    await writeFile(join(models, 'sub', 'a.pth'), 'import os');
    await mkdir(join(models, '.git'));
    await writeFile(join(models, '.git', 'HEAD'), 'ref: refs/heads/main'); // git metadata: skipped, as the vet skips it
    expect(await verify(env)).toEqual({ ok: false, reason: '2 file(s) not covered by the manifest: extra.pkl, sub/a.pth' });
    await unlink(join(models, 'extra.pkl'));
    await unlink(join(models, 'sub', 'a.pth'));
    expect(await verify(env)).toMatchObject({ ok: true, filesChecked: 2 });
  });
  it('names a missing file; a file list must be the whole signed set too', async () => {
    expect(await verify(env, { files: [join(models, 'model.pt'), join(models, 'sub', 'config.bin')] })).toMatchObject({ ok: true, filesChecked: 2 });
    expect(await verify(env, { files: [join(models, 'model.pt')] })).toMatchObject({ ok: false, reason: /not covered|missing/ });
    await rm(join(models, 'sub', 'config.bin'));
    expect(await verify(env)).toEqual({ ok: false, reason: '1 model file(s) missing: sub/config.bin' });
    await writeFile(join(models, 'sub', 'config.bin'), 'config');
  });
  it('reports a dangling symlink and a FIFO in the folder instead of skipping them; follows a symlink to a file', async () => {
    const link = join(models, 'dangling');
    await symlink(join(dir, 'nowhere'), link);
    expect(await verify(env)).toEqual({ ok: false, reason: 'dangling symlink in the model folder: dangling' });
    await unlink(link);
    const fifo = join(models, 'pipe');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    expect(await verify(env)).toEqual({ ok: false, reason: 'not a regular file in the model folder: pipe' });
    await unlink(fifo);
    // An HF-cache-like folder: the subject is a symlink to the blob; the blob's bytes are checked.
    const snap = join(dir, 'snap');
    await mkdir(join(snap, 'sub'), { recursive: true });
    await writeFile(join(dir, 'blob'), 'weights');
    await symlink(join(dir, 'blob'), join(snap, 'model.pt'));
    await writeFile(join(snap, 'sub', 'config.bin'), 'config');
    expect(await verify(env, { files: [snap] })).toMatchObject({ ok: true, filesChecked: 2 });
    await writeFile(join(dir, 'blob'), 'weights, patched');
    expect(await verify(env, { files: [snap] })).toMatchObject({ ok: false, reason: /^model file changed: model\.pt/ });
  });
});

describe('ltrack manifest verify / vet --sign-key (CLI)', () => {
  let manifest: string;
  beforeAll(async () => {
    manifest = join(dir, 'manifest.dsse.json');
    await writeFile(manifest, JSON.stringify(env));
  });

  it('requires --files (exit 2) unless --signature-only, which says the model was not checked', () => {
    const bare = ltrack(['manifest', 'verify', manifest, '--key', pub]);
    expect(bare.code).toBe(2);
    expect(bare.stderr.trim().split('\n')).toHaveLength(1);
    expect(bare.stderr).toMatch(/needs --files/);
    const sigOnly = ltrack(['manifest', 'verify', manifest, '--key', pub, '--signature-only']);
    expect(sigOnly.code).toBe(0);
    expect(sigOnly.stdout).toMatch(/^signature valid \(signature only: no model file was checked\): 2 subject\(s\)/);
    expect(ltrack(['manifest', 'verify', manifest, '--key', pub, '--signature-only', '--files', models]).code).toBe(2);
    const bound = ltrack(['manifest', 'verify', manifest, '--key', pub, '--files', models]);
    expect(bound.code, bound.stderr).toBe(0);
    expect(bound.stdout).toMatch(/^valid: 2 model file\(s\) match, nothing else in the model/);
  });

  it('fails (exit 1) naming a file added after signing', async () => {
    const added = join(models, 'sub', 'late\n\u202eadd.pkl');
    await writeFile(added, PICKLE);
    const r = ltrack(['manifest', 'verify', manifest, '--key', pub, '--files', models]);
    await unlink(added);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`ltrack: ${manifest}: invalid: 1 file(s) not covered by the manifest: sub/late\\x0a\\u202eadd.pkl\n`);
  });

  it('refuses a private key as --key (exit 2, one line, before reading the manifest)', () => {
    const r = ltrack(['manifest', 'verify', join(dir, 'no-such-manifest.json'), '--key', priv, '--files', models]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^ltrack: ${priv}: is a private key: .*\\n$`));
  });

  it('refuses a tampered (respelled) envelope from the command line (exit 1)', async () => {
    const bad = join(dir, 'respelled.json');
    await writeFile(bad, JSON.stringify({ ...env, payload: env.payload.replace(/(.{64})/g, '$1\n') }));
    const r = ltrack(['manifest', 'verify', bad, '--key', pub, '--files', models]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/invalid: payload is not canonical base64/);
  });

  describe('vet --sign-key is checked before any analysis', () => {
    let folder: string;
    let keys: Record<string, string>;
    beforeAll(async () => {
      folder = join(dir, 'candidate');
      await mkdir(folder);
      await writeFile(join(folder, 'a.pkl'), PICKLE);
      await writeFile(join(folder, 'b.pkl'), PICKLE);
      const loose = join(dir, 'vet-loose.key');
      await writeFile(loose, await readFile(priv));
      await chmod(loose, 0o644);
      const pubKey = join(dir, 'vet-pub.key');
      await writeFile(pubKey, await readFile(pub), { mode: 0o600 });
      const garbage = join(dir, 'vet-garbage.key');
      await writeFile(garbage, 'not a key\n', { mode: 0o600 });
      keys = { loose, pubKey, garbage, missing: join(dir, 'vet-missing.key') };
    });

    for (const which of ['loose', 'pubKey', 'garbage', 'missing']) {
      it(`refuses a ${which} key with exit 2 and runs no analysis`, () => {
        const out = join(dir, `out-${which}`);
        const r = ltrack(['vet', '--static-only', folder, '--sign-key', keys[which]!, '--out', out], { env: { LTRACK_PROGRESS: '1' } });
        expect(r.code).toBe(2);
        // Progress is on (LTRACK_PROGRESS): the only line is the key error, no "static analysis".
        expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`^ltrack: ${keys[which]!}: `))]);
        expect(r.stdout).toBe('');
        expect(existsSync(out)).toBe(false);
      });
    }

    it('with a good key: the same command analyses, signs, and the manifest binds to the folder', async () => {
      const out = join(dir, 'out-good');
      const r = ltrack(['vet', '--static-only', folder, '--sign-key', priv, '--out', out], { env: { LTRACK_PROGRESS: '1' } });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/^ltrack: static analysis of \d+ files?$/m); // the probe the refusals above rely on
      const m = join(out, 'manifest.dsse.json');
      expect((await stat(m)).isFile()).toBe(true);
      expect(ltrack(['manifest', 'verify', m, '--key', pub, '--files', folder]).code).toBe(0);
      await writeFile(join(folder, 'c.pkl'), PICKLE);
      const added = ltrack(['manifest', 'verify', m, '--key', pub, '--files', folder]);
      expect(added.code).toBe(1);
      expect(added.stderr).toMatch(/invalid: 1 file\(s\) not covered by the manifest: c\.pkl$/m);
    });

    it('names subjects relative to the vetted folder even when every file sits in a subfolder', async () => {
      const nested = join(dir, 'nested');
      await mkdir(join(nested, 'weights'), { recursive: true });
      await writeFile(join(nested, 'weights', 'a.pkl'), PICKLE);
      const out = join(dir, 'out-nested');
      expect(ltrack(['vet', '--static-only', nested, '--sign-key', priv, '--out', out]).code).toBe(0);
      const v = ltrack(['manifest', 'verify', join(out, 'manifest.dsse.json'), '--key', pub, '--files', nested]);
      expect(v.code, v.stderr).toBe(0);
      const payload = JSON.parse(Buffer.from((JSON.parse(await readFile(join(out, 'manifest.dsse.json'), 'utf8')) as Envelope).payload, 'base64').toString()) as { subject: { name: string }[] };
      expect(payload.subject.map((s) => s.name)).toEqual(['weights/a.pkl']);
    });
  });
});
