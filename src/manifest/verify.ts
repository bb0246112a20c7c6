import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { verifyEnvelope } from './dsse.js';
import { sha256File } from './hash.js';
import { omsRootDigest } from './build.js';
import { INTOTO_PAYLOAD_TYPE, PREDICATE_TYPE, STATEMENT_TYPE, type Envelope, type Statement } from './types.js';

export interface VerifyOptions {
  publicKeyPem?: string;
  /** Folder the subjects are named relative to: every subject's file is hashed and compared. */
  filesDir?: string;
  /** Root the library paths resolve under (the sandbox rootfs): entries with a sha256 are re-hashed. */
  librariesRoot?: string;
  /** Digest of the rule set in force: a manifest vetted under other rules is not valid here. */
  rulesetDigest?: string;
  /** Accept a manifest written with --force-manifest for a vet that did not pass. */
  allowForced?: boolean;
  now?: Date;
}

export type VerifyResult = { ok: true; statement: Statement } | { ok: false; reason: string };

class Invalid extends Error {}
const fail = (reason: string): never => {
  throw new Invalid(reason);
};

/**
 * Verifies a DSSE-enveloped allowlist in named steps, each of which fails with its own one-line
 * reason: envelope shape, payload type, signature, statement and predicate types, internal
 * consistency, validity window, forced flag, rule set, model files, libraries.
 */
export async function verifyManifest(envelopeJson: string, opts: VerifyOptions): Promise<VerifyResult> {
  try {
    const env = parseEnvelope(envelopeJson);
    if (env.payloadType !== INTOTO_PAYLOAD_TYPE) fail(`unsupported payload type ${JSON.stringify(env.payloadType)}`);
    if (opts.publicKeyPem === undefined) fail('no public key given: a signature that is not checked proves nothing');
    if (!verifyEnvelope(env, opts.publicKeyPem!)) fail('signature does not verify with the given key');
    const st = parseStatement(Buffer.from(env.payload, 'base64').toString('utf8'));
    checkWindow(st, opts.now ?? new Date());
    if (st.predicate.forced && !opts.allowForced) fail(`manifest was forced for a vet that did not pass (${st.predicate.verdict})`);
    if (opts.rulesetDigest !== undefined && st.predicate.rulesetDigest !== opts.rulesetDigest) {
      fail(`rule set changed since the vet (manifest ${st.predicate.rulesetDigest.slice(0, 12)}, now ${opts.rulesetDigest.slice(0, 12)})`);
    }
    if (opts.filesDir !== undefined) await checkFiles(st, opts.filesDir);
    if (opts.librariesRoot !== undefined) await checkLibraries(st, opts.librariesRoot);
    return { ok: true, statement: st };
  } catch (err) {
    if (err instanceof Invalid) return { ok: false, reason: err.message };
    throw err;
  }
}

function parseEnvelope(text: string): Envelope {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return fail('not JSON: not a DSSE envelope');
  }
  const e = v as Partial<Envelope>;
  if (typeof e.payloadType !== 'string' || typeof e.payload !== 'string' || !Array.isArray(e.signatures) || e.signatures.length === 0) {
    fail('not a DSSE envelope (payloadType, payload and at least one signature are required)');
  }
  if (!e.signatures!.every((s) => typeof s?.sig === 'string')) fail('malformed signature entry');
  return e as Envelope;
}

function parseStatement(text: string): Statement {
  let st: Statement;
  try {
    st = JSON.parse(text) as Statement;
  } catch {
    return fail('payload is not JSON');
  }
  if (st._type !== STATEMENT_TYPE) fail(`unsupported statement type ${JSON.stringify(st._type)}`);
  if (st.predicateType !== PREDICATE_TYPE) fail(`unsupported predicate type ${JSON.stringify(st.predicateType)}`);
  const p = st.predicate;
  if (!Array.isArray(st.subject) || st.subject.length === 0 || !p || typeof p !== 'object' || !p.allow || typeof p.rulesetDigest !== 'string') {
    fail('statement is missing subjects or predicate fields');
  }
  for (const s of st.subject) {
    if (typeof s?.name !== 'string' || !/^[0-9a-f]{64}$/.test(s.digest?.sha256 ?? '')) fail('malformed subject');
    if (s.name.startsWith('/') || s.name.split('/').includes('..')) fail(`subject name escapes the model folder: ${JSON.stringify(s.name)}`);
  }
  if (omsRootDigest(st.subject) !== p.omsRootDigest) fail('root digest does not match the subjects');
  return st;
}

function checkWindow(st: Statement, now: Date): void {
  const issued = Date.parse(st.predicate.issuedAt);
  const expires = Date.parse(st.predicate.expiresAt);
  if (Number.isNaN(issued) || Number.isNaN(expires)) fail('issuedAt/expiresAt are not dates');
  if (issued > now.getTime() + 300_000) fail(`issued in the future (${st.predicate.issuedAt})`);
  if (expires <= now.getTime()) fail(`expired at ${st.predicate.expiresAt}`);
}

async function checkFiles(st: Statement, dir: string): Promise<void> {
  for (const s of st.subject) {
    const path = join(dir, s.name);
    const actual = await sha256File(path).catch(() => fail(`model file missing or unreadable: ${s.name}`));
    if (actual !== s.digest.sha256) fail(`model file changed: ${s.name} (sha256 ${actual.slice(0, 12)}…, signed ${s.digest.sha256.slice(0, 12)}…)`);
  }
}

async function checkLibraries(st: Statement, root: string): Promise<void> {
  for (const lib of st.predicate.allow.librariesMapped) {
    if (lib.sha256 === undefined) continue;
    const actual = await sha256File(join(root, lib.path)).catch(() => fail(`library missing: ${lib.path}`));
    if (actual !== lib.sha256) fail(`library changed: ${lib.path}`);
  }
}

/** For callers holding a file path. */
export async function verifyManifestFile(path: string, opts: VerifyOptions): Promise<VerifyResult> {
  return verifyManifest(await readFile(path, 'utf8'), opts);
}
