import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildManifest, generateKeyPair, signEd25519, verifyManifest, type Envelope, type Statement } from '../../src/manifest/index.js';
import { pae } from '../../src/manifest/dsse.js';
import { REPORT_VERSION, type Report } from '../../src/core/report.js';

let dir: string;
let models: string;
let libroot: string;
let priv: string;
let pub: string;
let otherPub: string;

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

function report(status: 'pass' | 'block', targets: Report['targets']): Report {
  return {
    version: REPORT_VERSION,
    tool: { name: 'ltrack', version: '0.0.0' },
    startedAt: new Date().toISOString(),
    targets,
    verdict: { status, severity: 'info', score: 0, failOn: 'high', reasons: [] },
    findings: [],
    observed: {
      filesRead: ['/candidate/model.pt', '/usr/lib/python3/dist-packages/torch/__init__.py', '/usr/lib/python3/dist-packages/torch/nn/modules/linear.py', '/usr/lib/python3.11/os.py'],
      filesWritten: [],
      librariesMapped: [{ path: '/usr/lib/libfake.so', sha256: sha('library v1') }],
      exec: [],
      network: [],
      packages: [{ name: 'torch', version: '1.13.0' }],
    },
    stats: { events: 10, drops: 0, tracerTiers: [], sandbox: 'docker', durationsMs: {} },
    rulesetDigest: 'a'.repeat(64),
  };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ltrack-manifest-'));
  models = join(dir, 'models');
  libroot = join(dir, 'rootfs');
  await mkdir(join(models, 'sub'), { recursive: true });
  await mkdir(join(libroot, 'usr/lib'), { recursive: true });
  await writeFile(join(models, 'model.pt'), 'weights');
  await writeFile(join(models, 'sub', 'config.bin'), 'config');
  await writeFile(join(libroot, 'usr/lib/libfake.so'), 'library v1');
  ({ privatePath: priv, publicPath: pub } = await generateKeyPair(join(dir, 'signer')));
  ({ publicPath: otherPub } = await generateKeyPair(join(dir, 'other')));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

async function signed(status: 'pass' | 'block' = 'pass', forced = false): Promise<{ env: Envelope; statement: Statement }> {
  const files = [join(models, 'model.pt'), join(models, 'sub', 'config.bin')];
  const statement = await buildManifest(report(status, [{ path: files[0]!, sha256: sha('weights'), size: 7, format: 'torch-zip' }]), { files, forced });
  return { env: signEd25519(statement, await readFile(priv, 'utf8')), statement };
}

const verify = async (env: Envelope | string, extra: Record<string, unknown> = {}) =>
  verifyManifest(typeof env === 'string' ? env : JSON.stringify(env), {
    publicKey: await readFile(pub, 'utf8'),
    files: [models],
    librariesRoot: libroot,
    rulesetDigest: 'a'.repeat(64),
    ...extra,
  });

const reencode = (env: Envelope, edit: (s: Statement) => void): Envelope => {
  const st = JSON.parse(Buffer.from(env.payload, 'base64').toString('utf8')) as Statement;
  edit(st);
  return { ...env, payload: Buffer.from(JSON.stringify(st)).toString('base64') };
};

describe('DSSE', () => {
  it('pre-authentication encoding matches the DSSE spec example', () => {
    expect(pae('http://example.com/HelloWorld', Buffer.from('hello world')).toString()).toBe('DSSEv1 29 http://example.com/HelloWorld 11 hello world');
  });
  it('counts bytes, not characters', () => {
    expect(pae('t', Buffer.from('é')).toString()).toBe('DSSEv1 1 t 2 é');
  });
});

describe('key generate', () => {
  it('writes a private key only its owner can read and never overwrites', async () => {
    expect((await stat(priv)).mode & 0o777).toBe(0o600);
    await expect(generateKeyPair(join(dir, 'signer'))).rejects.toThrow(/already exists/);
  });
});

describe('build', () => {
  it('names subjects relative to the model folder with plain sha256 digests, and generalises reads', async () => {
    const { statement } = await signed();
    expect(statement.subject).toEqual([
      { name: 'model.pt', digest: { sha256: sha('weights') } },
      { name: 'sub/config.bin', digest: { sha256: sha('config') } },
    ]);
    expect(statement.predicate.allow.filesRead).toEqual(['/candidate/model.pt', '/usr/lib/python3.11/', '/usr/lib/python3/dist-packages/torch/']);
    expect(statement.predicate.forced).toBe(false);
  });
  it('refuses a vet that did not pass unless forced, and marks a forced one', async () => {
    await expect(signed('block')).rejects.toThrow(/did not pass/);
    const { statement } = await signed('block', true);
    expect(statement.predicate.forced).toBe(true);
  });
  it('refuses a file that changed since the vet', async () => {
    const f = join(models, 'model.pt');
    await expect(buildManifest(report('pass', [{ path: f, sha256: sha('other'), size: 5, format: 'pickle' }]), { files: [f] })).rejects.toThrow(/changed since it was vetted/);
  });
});

describe('verify', () => {
  it('accepts an untouched manifest', async () => {
    const { env } = await signed();
    expect(await verify(env)).toMatchObject({ ok: true });
  });
  it('catches a tampered payload', async () => {
    const { env } = await signed();
    const r = await verify(reencode(env, (s) => s.predicate.allow.exec.push({ path: '/bin/sh', argv: ['sh'] })));
    expect(r).toEqual({ ok: false, reason: 'signature does not verify with the given key' });
  });
  it('catches a tampered library entry', async () => {
    const { env } = await signed();
    const r = await verify(reencode(env, (s) => (s.predicate.allow.librariesMapped[0]!.path = '/tmp/libhack.so')));
    expect(r).toMatchObject({ ok: false, reason: 'signature does not verify with the given key' });
  });
  it('catches a tampered signature', async () => {
    const { env } = await signed();
    const sig = Buffer.from(env.signatures[0]!.sig, 'base64');
    sig[0]! ^= 1;
    expect(await verify({ ...env, signatures: [{ keyid: env.signatures[0]!.keyid, sig: sig.toString('base64') }] })).toMatchObject({ ok: false, reason: /signature does not verify/ });
  });
  it('catches the wrong key and a missing key', async () => {
    const { env } = await signed();
    expect(await verify(env, { publicKey: await readFile(otherPub, 'utf8') })).toMatchObject({ ok: false, reason: /signature does not verify/ });
    expect(await verify(env, { publicKey: undefined })).toMatchObject({ ok: false, reason: /no public key/ });
  });
  it('catches a changed model file and a changed library on disk', async () => {
    const { env } = await signed();
    const f = join(models, 'sub', 'config.bin');
    await writeFile(f, 'config!');
    expect(await verify(env)).toMatchObject({ ok: false, reason: /model file changed: sub\/config.bin/ });
    await writeFile(f, 'config');
    const lib = join(libroot, 'usr/lib/libfake.so');
    await writeFile(lib, 'library v2');
    expect(await verify(env)).toMatchObject({ ok: false, reason: 'library changed: /usr/lib/libfake.so' });
    await writeFile(lib, 'library v1');
    expect(await verify(env)).toMatchObject({ ok: true });
  });
  it('catches expiry, another rule set and a forced manifest', async () => {
    const { env } = await signed();
    expect(await verify(env, { now: new Date(Date.now() + 91 * 86_400_000) })).toMatchObject({ ok: false, reason: /^expired at / });
    expect(await verify(env, { rulesetDigest: 'b'.repeat(64) })).toMatchObject({ ok: false, reason: /rule set changed/ });
    const forced = (await signed('block', true)).env;
    expect(await verify(forced)).toMatchObject({ ok: false, reason: /forced for a vet that did not pass \(block\)/ });
    expect(await verify(forced, { allowForced: true })).toMatchObject({ ok: true });
  });
  it('rejects unknown payload, statement and predicate types even when signed', async () => {
    const key = await readFile(priv, 'utf8');
    const { statement } = await signed();
    const { signEnvelope } = await import('../../src/manifest/dsse.js');
    const other = signEnvelope('application/json', Buffer.from(JSON.stringify(statement)), key);
    expect(await verify(other)).toMatchObject({ ok: false, reason: /unsupported payload type/ });
    expect(await verify(signEd25519({ ...statement, _type: 'https://in-toto.io/Statement/v0.1' } as unknown as Statement, key))).toMatchObject({ ok: false, reason: /unsupported statement type/ });
    expect(await verify(signEd25519({ ...statement, predicateType: 'https://example.com/x' } as unknown as Statement, key))).toMatchObject({ ok: false, reason: /unsupported predicate type/ });
  });
  it('rejects subject names that escape the folder', async () => {
    const key = await readFile(priv, 'utf8');
    const { statement } = await signed();
    const evil = { ...statement, subject: [{ name: '../etc/passwd', digest: { sha256: sha('x') } }] };
    expect(await verify(signEd25519(evil, key))).toMatchObject({ ok: false, reason: /escapes the model folder/ });
  });
  it('says what is wrong with a file that is not an envelope', async () => {
    expect(await verify('not json')).toMatchObject({ ok: false, reason: /not JSON/ });
    expect(await verify('{"payload":"x"}')).toMatchObject({ ok: false, reason: /not a DSSE envelope/ });
  });
});
