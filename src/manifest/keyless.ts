import type { Bundle } from '@sigstore/sign';
import { LtrackError } from '../core/errors.js';
import { INTOTO_PAYLOAD_TYPE, type Statement } from './types.js';

interface KeylessOptions {
  fulcioURL?: string;
  rekorURL?: string;
}

/** Whether this process runs where keyless signing can get an identity: GitHub Actions OIDC or SIGSTORE_ID_TOKEN. */
export function keylessAvailable(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean((env.ACTIONS_ID_TOKEN_REQUEST_URL && env.ACTIONS_ID_TOKEN_REQUEST_TOKEN) || env.SIGSTORE_ID_TOKEN);
}

/**
 * Keyless Sigstore signing of the statement as a DSSE bundle: the job's OIDC token buys a
 * short-lived Fulcio certificate, and the signature is witnessed in Rekor. Needs the network; any
 * failure is reported as such (never a silently unsigned manifest).
 */
export async function signKeyless(statement: Statement, opts: KeylessOptions = {}): Promise<Bundle> {
  if (!keylessAvailable()) {
    throw new LtrackError('usage', 'keyless signing needs an OIDC identity (GitHub Actions with id-token: write, or SIGSTORE_ID_TOKEN)');
  }
  // Loaded here, not at start-up: only a keyless signing pays for the Sigstore client.
  const { CIContextProvider, DSSEBundleBuilder, FulcioSigner, RekorWitness, DEFAULT_FULCIO_URL, DEFAULT_REKOR_URL } = await import('./sigstore.js');
  const builder = new DSSEBundleBuilder({
    signer: new FulcioSigner({ identityProvider: new CIContextProvider('sigstore'), fulcioBaseURL: opts.fulcioURL ?? DEFAULT_FULCIO_URL }),
    witnesses: [new RekorWitness({ rekorBaseURL: opts.rekorURL ?? DEFAULT_REKOR_URL })],
  });
  try {
    return await builder.create({ data: Buffer.from(JSON.stringify(statement)), type: INTOTO_PAYLOAD_TYPE });
  } catch (err) {
    throw new LtrackError('signing_failed', `keyless signing failed (Fulcio/Rekor unreachable or identity refused): ${describe(err)}`, { cause: err });
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as Error & { cause?: unknown }).cause;
    return cause instanceof Error ? `${err.message}: ${cause.message}` : err.message;
  }
  return String(err);
}
