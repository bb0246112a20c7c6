import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { decodeBase64Strict } from './base64.js';
import { parsePrivateKeyPem, parsePublicKeyPem } from './keys.js';
import { sha256 } from '../core/sha256.js';
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
function keyIdOf(publicKey: KeyObject): string {
  return sha256(publicKey.export({ type: 'spki', format: 'der' }));
}

/** Signs with an Ed25519 private key (a checked KeyObject, or a PEM that is checked here). */
export function signEnvelope(payloadType: string, payload: Buffer, privateKey: KeyObject | string): Envelope {
  const key = typeof privateKey === 'string' ? parsePrivateKeyPem(privateKey) : privateKey;
  const sig = sign(null, pae(payloadType, payload), key);
  return { payloadType, payload: payload.toString('base64'), signatures: [{ keyid: keyIdOf(createPublicKey(key)), sig: sig.toString('base64') }] };
}

type EnvelopeCheck = { ok: true; payload: Buffer } | { ok: false; reason: string };

/**
 * Verifies one of the envelope's signatures (Ed25519 over the PAE) and returns the signed payload
 * bytes — the only bytes a caller may parse. The payload and every signature must be canonical
 * base64: a second spelling of the same bytes is a tampered envelope, not an equivalent one.
 */
export function verifyEnvelope(env: Envelope, publicKey: KeyObject | string): EnvelopeCheck {
  const key = typeof publicKey === 'string' ? parsePublicKeyPem(publicKey) : publicKey;
  const payload = decodeBase64Strict(env.payload);
  if (payload === undefined) return { ok: false, reason: 'payload is not canonical base64' };
  const sigs = env.signatures.map((s) => decodeBase64Strict(s.sig));
  if (sigs.some((s) => s === undefined)) return { ok: false, reason: 'a signature is not canonical base64' };
  const message = pae(env.payloadType, payload);
  return sigs.some((s) => verify(null, message, key, s!)) ? { ok: true, payload } : { ok: false, reason: 'signature does not verify with the given key' };
}
