/** Signed allowlist manifests: build from a passing vet, sign (Ed25519 or keyless Sigstore), verify. */
import type { KeyObject } from 'node:crypto';
import { signEnvelope } from './dsse.js';
import { INTOTO_PAYLOAD_TYPE, type Envelope, type Statement } from './types.js';

export { buildManifest, omsRootDigest } from './build.js';
export type { BuildOptions } from './build.js';
export { verifyManifest, verifyManifestFile } from './verify.js';
export type { VerifyOptions, VerifyResult } from './verify.js';
export { generateKeyPair, parsePrivateKeyPem, parsePublicKeyPem, readSigningKey } from './keys.js';
export { decodeBase64Strict } from './base64.js';
export { signKeyless, keylessAvailable } from './keyless.js';
export { generaliseReads, readAllowed } from './generalise.js';
export { sha256File, sha256Files } from './hash.js';
export { INTOTO_PAYLOAD_TYPE, PREDICATE_TYPE, STATEMENT_TYPE } from './types.js';
export type { Envelope, Statement, AllowlistPredicate, Subject } from './types.js';

/** Signs the statement's JSON bytes in a DSSE envelope with an Ed25519 private key (checked KeyObject or PEM). */
export function signEd25519(statement: Statement, privateKey: KeyObject | string): Envelope {
  return signEnvelope(INTOTO_PAYLOAD_TYPE, Buffer.from(JSON.stringify(statement)), privateKey);
}
