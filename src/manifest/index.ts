/** Signed allowlist manifests: build from a passing vet, sign (Ed25519 or keyless Sigstore), verify. */
import type { KeyObject } from 'node:crypto';
import { signEnvelope } from './dsse.js';
import { INTOTO_PAYLOAD_TYPE, type Envelope, type Statement } from './types.js';
import type { Report } from '../core/report.js';
import { buildManifest } from './build.js';
import { signKeyless } from './keyless.js';

export { buildManifest } from './build.js';
export { verifyManifest } from './verify.js';
export { generateKeyPair, parsePublicKeyPem, readSigningKey } from './keys.js';
export { decodeBase64Strict } from './base64.js';
export { signKeyless };
export { generaliseReads, readAllowed } from './generalise.js';
export { sha256File, sha256Files } from './hash.js';
export type { Envelope, Statement } from './types.js';

/** Signs the statement's JSON bytes in a DSSE envelope with an Ed25519 private key (checked KeyObject or PEM). */
export function signEd25519(statement: Statement, privateKey: KeyObject | string): Envelope {
  return signEnvelope(INTOTO_PAYLOAD_TYPE, Buffer.from(JSON.stringify(statement)), privateKey);
}

/**
 * The manifest file of a vet, as every entry point writes it (vet, gate, the Action): built from the
 * report over `files` (subjects named relative to `root`), signed with `key`, or keyless with
 * Sigstore without one; `manifest.dsse.json` or `manifest.sigstore.json`.
 */
export async function signedManifestFile(report: Report, opts: { files: string[]; root?: string; forced?: boolean; key?: KeyObject }): Promise<{ name: string; text: string }> {
  const statement = await buildManifest(report, { files: opts.files, ...(opts.root ? { root: opts.root } : {}), ...(opts.forced ? { forced: true } : {}) });
  if (opts.key) return { name: 'manifest.dsse.json', text: `${JSON.stringify(signEd25519(statement, opts.key), null, 2)}\n` };
  return { name: 'manifest.sigstore.json', text: `${JSON.stringify(await signKeyless(statement), null, 2)}\n` };
}
