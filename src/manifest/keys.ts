import { generateKeyPairSync } from 'node:crypto';
import { unlink, writeFile } from 'node:fs/promises';
import { LtrackError } from '../core/errors.js';

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
      file: code === 'EEXIST' ? (err as NodeJS.ErrnoException).path ?? privatePath : privatePath,
    });
  }
  return { privatePath, publicPath };
}
