import type { ObservedBehavior, VerdictStatus } from '../core/report.js';

/** DSSE payload type of an in-toto statement, and the statement type we emit (in-toto v1). */
export const INTOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
/** Our predicate, versioned in its URI: a change of meaning gets a new version, never a silent edit. */
export const PREDICATE_TYPE = 'https://ltrack.dev/allowlist/v1';

export interface Subject {
  /** Path relative to the vetted model root (the same naming as OMS `resources[].name`). */
  name: string;
  digest: { sha256: string };
}

interface AllowlistPredicate {
  /** What the candidate legitimately did while it was vetted; production enforces exactly this. */
  allow: {
    /** Files read: exact paths, or folder prefixes ending in "/" (runtime and installed packages). */
    filesRead: string[];
    librariesMapped: { path: string; sha256?: string }[];
    exec: { path: string; argv: string[] }[];
    network: { kind: string; family: string; addr: string; port: number }[];
  };
  packages: ObservedBehavior['packages'];
  rulesetDigest: string;
  verdict: VerdictStatus;
  /** True when --force-manifest wrote this for a vet that did not pass. */
  forced: boolean;
  tool: { name: 'ltrack'; version: string };
  issuedAt: string;
  expiresAt: string;
  /**
   * sha256 over the raw subject digests in name order: the root digest an OpenSSF model-signing
   * (OMS) v1.0 "files" manifest of the same folder carries as its subject, so the two can be
   * cross-checked (see src/manifest/README.md).
   */
  omsRootDigest: string;
}

export interface Statement {
  _type: typeof STATEMENT_TYPE;
  subject: Subject[];
  predicateType: typeof PREDICATE_TYPE;
  predicate: AllowlistPredicate;
}

export interface Envelope {
  payloadType: string;
  /** base64 of the statement's JSON bytes */
  payload: string;
  signatures: { keyid: string; sig: string }[];
}
