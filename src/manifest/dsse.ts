import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { LtrackError } from '../core/errors.js';
import type { Envelope } from './types.js';

/**
 * DSSE pre-authentication encoding: "DSSEv1" SP len(type) SP type SP len(body) SP body, with
 * lengths in bytes (not UTF-16 units) so a multi-byte payload type cannot shift the boundary.
 */
export function pae(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload]);
}

/** keyid: sha256 of the public key's DER (SPKI), so a verifier can tell which key signed. */
export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
}

export function signEnvelope(payloadType: string, payload: Buffer, privateKeyPem: string): Envelope {
  const key = loadKey(() => createPrivateKey(privateKeyPem), 'private');
  if (key.asymmetricKeyType !== 'ed25519') throw new LtrackError('usage', `signing key must be Ed25519, got ${key.asymmetricKeyType}`);
  const sig = sign(null, pae(payloadType, payload), key);
  return { payloadType, payload: payload.toString('base64'), signatures: [{ keyid: keyIdOf(createPublicKey(key)), sig: sig.toString('base64') }] };
}

/** True when one of the envelope's signatures verifies with the key (Ed25519 over the PAE). */
export function verifyEnvelope(env: Envelope, publicKeyPem: string): boolean {
  const key = loadKey(() => createPublicKey(publicKeyPem), 'public');
  if (key.asymmetricKeyType !== 'ed25519') throw new LtrackError('usage', `verification key must be Ed25519, got ${key.asymmetricKeyType}`);
  const message = pae(env.payloadType, Buffer.from(env.payload, 'base64'));
  return env.signatures.some((s) => verify(null, message, key, Buffer.from(s.sig, 'base64')));
}

function loadKey(load: () => KeyObject, which: string): KeyObject {
  try {
    return load();
  } catch (err) {
    throw new LtrackError('bad_input', `not a PEM ${which} key`, { cause: err });
  }
}
