import type { Unchecked } from '../core/unchecked.js';

/** Who must have signed a keyless manifest: the certificate's subject and the OIDC issuer that vouched for it. */
export interface KeylessIdentity {
  /** The Sigstore trusted root (JSON, as `sigstore` clients and `cosign` read it): Fulcio CAs, Rekor and CT log keys. */
  trustedRoot: unknown;
  /** The certificate's subject alternative name (an e-mail, or a workflow URI for GitHub Actions). */
  identity: string;
  /** The OIDC issuer extension (e.g. https://token.actions.githubusercontent.com). */
  issuer: string;
}

type Checked = { ok: true; payloadType: string; payload: Buffer } | { ok: false; reason: string };

/**
 * Verifies a Sigstore bundle holding a DSSE envelope (what `signKeyless` writes) with
 * @sigstore/verify: the certificate chains to a Fulcio CA of the trusted root and was valid when
 * the transparency log integrated the entry (a signed inclusion proof or promise from a Rekor log of
 * the root: at least one), SCTs when the root lists CT logs, the DSSE signature, and the identity
 * policy (subject and issuer exactly). Returns the signed payload bytes, the only bytes to parse.
 */
export async function verifyKeylessBundle(bundleText: string, who: KeylessIdentity): Promise<Checked> {
  const { bundleFromJSON, TrustedRoot, Verifier, toSignedEntity, toTrustMaterial } = await import('./sigstore.js');
  let raw: unknown;
  try {
    raw = JSON.parse(bundleText);
  } catch {
    return { ok: false, reason: 'not JSON: not a Sigstore bundle' };
  }
  const root = who.trustedRoot as Unchecked<{ ctlogs: unknown[] }>;
  try {
    const bundle = bundleFromJSON(raw);
    if (bundle.content.$case !== 'dsseEnvelope') return { ok: false, reason: 'the Sigstore bundle holds no DSSE envelope' };
    const verifier = new Verifier(toTrustMaterial(TrustedRoot.fromJSON(who.trustedRoot)), {
      tlogThreshold: 1,
      ctlogThreshold: Array.isArray(root?.ctlogs) && root.ctlogs.length > 0 ? 1 : 0,
    });
    verifier.verify(toSignedEntity(bundle), { subjectAlternativeName: who.identity, extensions: { issuer: who.issuer } });
    const env = bundle.content.dsseEnvelope;
    return { ok: true, payloadType: env.payloadType, payload: Buffer.from(env.payload) };
  } catch (err) {
    return { ok: false, reason: `keyless signature refused: ${err instanceof Error ? err.message : String(err)}` };
  }
}
