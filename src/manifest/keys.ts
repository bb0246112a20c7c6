import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { constants } from 'node:fs';
import { open, unlink, writeFile } from 'node:fs/promises';
import { LtrackError } from '../core/errors.js';
import { decodeBase64Strict } from './base64.js';

/**
 * Writes an Ed25519 key pair: PREFIX.key (PKCS#8 PEM, mode 0600, created exclusively so an existing
 * key is never overwritten) and PREFIX.pub (SPKI PEM, 0644).
 */
export async function generateKeyPair(prefix: string): Promise<{ privatePath: string; publicPath: string }> {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const privatePath = `${prefix}.key`;
  const publicPath = `${prefix}.pub`;
  try {
    await writeFile(privatePath, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
    await writeFile(publicPath, publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644, flag: 'wx' }).catch(async (err: unknown) => {
      await unlink(privatePath); // never leave half a pair behind
      throw err;
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new LtrackError('bad_input', code === 'EEXIST' ? 'already exists; not overwriting a key' : `cannot write key: ${String(err)}`, {
      cause: err,
      file: code === 'EEXIST' ? ((err as NodeJS.ErrnoException).path ?? privatePath) : privatePath,
    });
  }
  return { privatePath, publicPath };
}

/**
 * The Ed25519 public key a manifest is verified with. Only an SPKI `PUBLIC KEY` PEM in its one
 * canonical spelling is accepted (Node would otherwise derive a public key from a private one, and
 * OpenSSL's PEM reader tolerates whitespace and non-canonical base64). A private key is refused
 * outright: handing it to a verifier means it travels to every host that verifies.
 */
export function parsePublicKeyPem(pem: string, file?: string): KeyObject {
  const bad = (msg: string) => new LtrackError('bad_input', msg, file === undefined ? {} : { file });
  const { label, der } = pemParts(pem, bad);
  if (label.includes('PRIVATE KEY')) {
    throw bad('is a private key: verification takes the public key (the .pub file of `ltrack key generate`); keep the private key off verifying hosts');
  }
  if (label !== 'PUBLIC KEY') throw bad(`not a public key (PEM label ${JSON.stringify(label)}, expected "PUBLIC KEY")`);
  let key: KeyObject;
  try {
    key = createPublicKey({ key: der, format: 'der', type: 'spki' });
  } catch (err) {
    throw new LtrackError('bad_input', 'not a valid SPKI public key', { cause: err, ...(file === undefined ? {} : { file }) });
  }
  return canonical(key, key.export({ type: 'spki', format: 'pem' }) as string, pem, bad);
}

/** The Ed25519 private key manifests are signed with: an unencrypted PKCS#8 `PRIVATE KEY` PEM, canonical. */
export function parsePrivateKeyPem(pem: string, file?: string): KeyObject {
  const bad = (msg: string) => new LtrackError('bad_input', msg, file === undefined ? {} : { file });
  const { label, der } = pemParts(pem, bad);
  if (label === 'PUBLIC KEY') throw bad('is a public key: signing needs the private key (the .key file of `ltrack key generate`)');
  if (label === 'ENCRYPTED PRIVATE KEY') throw bad('is an encrypted private key: ltrack signs with an unencrypted PKCS#8 key kept at mode 0600');
  if (label !== 'PRIVATE KEY') throw bad(`not a PKCS#8 private key (PEM label ${JSON.stringify(label)}, expected "PRIVATE KEY")`);
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } catch (err) {
    throw new LtrackError('bad_input', 'not a valid PKCS#8 private key', { cause: err, ...(file === undefined ? {} : { file }) });
  }
  return canonical(key, key.export({ type: 'pkcs8', format: 'pem' }) as string, pem, bad);
}

/**
 * Reads and checks a signing key before any work is done with it: a regular file, not readable or
 * writable by group or others (as OpenSSH insists for its keys: a key others can read is no longer
 * a secret, and a manifest signed with it proves nothing), holding a canonical Ed25519 PKCS#8 key.
 * The file is opened once (non-blocking, so a FIFO cannot hang us) and checked through that
 * descriptor, so the checks and the read see the same file; a symlink is followed (Kubernetes
 * mounts secrets that way) and its target is what is checked.
 */
export async function readSigningKey(path: string): Promise<KeyObject> {
  let pem: string;
  try {
    const fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new LtrackError('bad_input', 'signing key is not a regular file', { file: path });
      if ((st.mode & 0o077) !== 0) {
        throw new LtrackError('bad_input', `signing key is accessible by group or others (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}): chmod 600 it`, { file: path });
      }
      if (st.size > 64 * 1024) throw new LtrackError('bad_input', 'signing key is too large to be a PEM key', { file: path });
      pem = await fh.readFile('utf8');
    } finally {
      await fh.close();
    }
  } catch (err) {
    if (err instanceof LtrackError) throw err;
    throw new LtrackError('bad_input', `cannot read signing key: ${(err as Error).message}`, { cause: err, file: path });
  }
  return parsePrivateKeyPem(pem, path);
}

function pemParts(pem: string, bad: (msg: string) => LtrackError): { label: string; der: Buffer } {
  const m = /^-----BEGIN ([A-Z0-9 ]+)-----\n([A-Za-z0-9+/=\n]*?)\n?-----END \1-----\n?$/.exec(pem);
  if (!m) {
    // Name a private key even when it is malformed: it must not be passed around either way.
    const label = /-----BEGIN ([A-Z0-9 ]+)-----/.exec(pem)?.[1];
    if (label?.includes('PRIVATE KEY')) return { label, der: Buffer.alloc(0) };
    throw bad('not a PEM key (one -----BEGIN …----- block, LF line endings, nothing around it)');
  }
  const der = decodeBase64Strict(m[2]!.replace(/\n/g, ''));
  if (der === undefined) throw bad('PEM body is not canonical base64');
  return { label: m[1]!, der };
}

function canonical(key: KeyObject, exported: string, pem: string, bad: (msg: string) => LtrackError): KeyObject {
  if (key.asymmetricKeyType !== 'ed25519') throw bad(`not an Ed25519 key (${key.asymmetricKeyType ?? 'unknown type'})`);
  if (pem !== exported && `${pem}\n` !== exported) throw bad('key is not in canonical PEM form (64-character lines, canonical DER)');
  return key;
}
