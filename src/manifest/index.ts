/** Signed allowlist manifests: build from a passing vet, sign (Ed25519 or keyless Sigstore), verify. */
import type { KeyObject } from 'node:crypto';
import { signEnvelope } from './dsse.js';
import { INTOTO_PAYLOAD_TYPE, type Envelope, type Statement } from './types.js';

export { buildManifest } from './build.js';
export { verifyManifest } from './verify.js';
export { generateKeyPair, parsePublicKeyPem, readSigningKey } from './keys.js';
export { decodeBase64Strict } from './base64.js';
export { signKeyless } from './keyless.js';
export { generaliseReads, readAllowed } from './generalise.js';
export { sha256File, sha256Files } from './hash.js';
export type { Envelope, Statement } from './types.js';

/** Signs the statement's JSON bytes in a DSSE envelope with an Ed25519 private key (checked KeyObject or PEM). */
export function signEd25519(statement: Statement, privateKey: KeyObject | string): Envelope {
  return signEnvelope(INTOTO_PAYLOAD_TYPE, Buffer.from(JSON.stringify(statement)), privateKey);
}
