import type { KeyObject } from 'node:crypto';
import type { Unchecked } from '../core/unchecked.js';
import { join } from 'node:path';
import { verifyEnvelope } from './dsse.js';
import { verifyKeylessBundle, type KeylessIdentity } from './keyless-verify.js';
import { sha256File, sha256Files } from './hash.js';
import { omsRootDigest } from './build.js';
import { modelFiles } from './modelfiles.js';
import { INTOTO_PAYLOAD_TYPE, PREDICATE_TYPE, STATEMENT_TYPE, type Envelope, type Statement } from './types.js';

interface VerifyOptions {
  /** The Ed25519 public key: a checked KeyObject, or an SPKI PEM checked here (a private key is refused). */
  publicKey?: KeyObject | string;
  /** Instead of a key: the manifest is a Sigstore bundle (keyless), checked against a trusted root and an identity. */
  keyless?: KeylessIdentity;
  /**
   * The model the manifest must describe: one folder, or the model files. The subjects must be
   * exactly these files — none missing, none extra — each with its signed sha256.
   */
  files?: string[];
  /** Check signature and statement without binding to any model; only on the caller's explicit request. */
  signatureOnly?: boolean;
  /** Root the library paths resolve under (the sandbox rootfs): entries with a sha256 are re-hashed. */
  librariesRoot?: string;
  /** Digest of the rule set in force: a manifest vetted under other rules is not valid here. */
  rulesetDigest?: string;
  /** Accept a manifest written with --force-manifest for a vet that did not pass. */
  allowForced?: boolean;
  now?: Date;
}

/** `filesChecked` is the number of model files bound, 0 when only the signature was checked. */
type VerifyResult = { ok: true; statement: Statement; filesChecked: number } | { ok: false; reason: string };

class Invalid extends Error {}
const fail = (reason: string): never => {
  throw new Invalid(reason);
};

/**
 * Verifies a DSSE-enveloped allowlist in named steps, each of which fails with its own one-line
 * reason: envelope shape, payload type, signature, statement and predicate types, internal
 * consistency, validity window, forced flag, rule set, model files, libraries. A manifest that is
 * not bound to model files proves nothing about a model: without `files` it is invalid unless the
 * caller asked for `signatureOnly`.
 */
export async function verifyManifest(envelopeJson: string, opts: VerifyOptions): Promise<VerifyResult> {
  try {
    if (opts.files === undefined && !opts.signatureOnly) fail('no model files given: a manifest not checked against the model proves nothing about it');
    const payload = opts.keyless ? await keylessPayload(envelopeJson, opts.keyless) : keyedPayload(envelopeJson, opts.publicKey);
    const st = parseStatement(payload.toString('utf8'));
    checkWindow(st, opts.now ?? new Date());
    if (st.predicate.forced && !opts.allowForced) fail(`manifest was forced for a vet that did not pass (${st.predicate.verdict})`);
    if (opts.rulesetDigest !== undefined && st.predicate.rulesetDigest !== opts.rulesetDigest) {
      fail(`rule set changed since the vet (manifest ${st.predicate.rulesetDigest.slice(0, 12)}, now ${opts.rulesetDigest.slice(0, 12)})`);
    }
    const filesChecked = opts.files === undefined ? 0 : await checkFiles(st, opts.files);
    if (opts.librariesRoot !== undefined) await checkLibraries(st, opts.librariesRoot);
    return { ok: true, statement: st, filesChecked };
  } catch (err) {
    if (err instanceof Invalid) return { ok: false, reason: err.message };
    throw err;
  }
}

/** The payload of a DSSE envelope signed with an Ed25519 key, once the signature holds. */
function keyedPayload(text: string, publicKey: KeyObject | string | undefined): Buffer {
  const env = parseEnvelope(text);
  if (env.payloadType !== INTOTO_PAYLOAD_TYPE) fail(`unsupported payload type ${JSON.stringify(env.payloadType)}`);
  if (publicKey === undefined) fail('no public key given: a signature that is not checked proves nothing');
  const signed = verifyEnvelope(env, publicKey!);
  if (!signed.ok) return fail(signed.reason);
  return signed.payload;
}

/** The payload of a keyless (Sigstore bundle) manifest, once certificate, log entry, signature and identity hold. */
async function keylessPayload(text: string, who: KeylessIdentity): Promise<Buffer> {
  const checked = await verifyKeylessBundle(text, who);
  if (!checked.ok) return fail(checked.reason);
  if (checked.payloadType !== INTOTO_PAYLOAD_TYPE) fail(`unsupported payload type ${JSON.stringify(checked.payloadType)}`);
  return checked.payload;
}

function parseEnvelope(text: string): Envelope {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return fail('not JSON: not a DSSE envelope');
  }
  const e = v as Unchecked<Envelope>;
  if (!e || typeof e.payloadType !== 'string' || typeof e.payload !== 'string' || !Array.isArray(e.signatures) || e.signatures.length === 0) {
    return fail('not a DSSE envelope (payloadType, payload and at least one signature are required)');
  }
  if (!e.signatures.every((s) => typeof s?.sig === 'string')) return fail('malformed signature entry');
  return e as Envelope;
}

function parseStatement(text: string): Statement {
  let st: Unchecked<Statement>;
  try {
    st = JSON.parse(text) as Unchecked<Statement>;
  } catch {
    return fail('payload is not JSON');
  }
  if (!st || typeof st !== 'object') return fail('payload is not a statement object');
  if (st._type !== STATEMENT_TYPE) return fail(`unsupported statement type ${JSON.stringify(st._type)}`);
  if (st.predicateType !== PREDICATE_TYPE) return fail(`unsupported predicate type ${JSON.stringify(st.predicateType)}`);
  const p = st.predicate;
  if (!Array.isArray(st.subject) || st.subject.length === 0 || !p || typeof p !== 'object' || !p.allow || typeof p.rulesetDigest !== 'string') {
    return fail('statement is missing subjects or predicate fields');
  }
  const seen = new Set<string>();
  for (const s of st.subject) {
    if (typeof s?.name !== 'string' || !/^[0-9a-f]{64}$/.test(s.digest?.sha256 ?? '')) return fail('malformed subject');
    if (s.name.startsWith('/') || s.name.split('/').includes('..')) return fail(`subject name escapes the model folder: ${JSON.stringify(s.name)}`);
    if (seen.has(s.name)) return fail(`subject named twice: ${JSON.stringify(s.name)}`);
    seen.add(s.name);
  }
  const checked = st as Statement;
  if (omsRootDigest(checked.subject) !== checked.predicate.omsRootDigest) fail('root digest does not match the subjects');
  return checked;
}

function checkWindow(st: Statement, now: Date): void {
  const issued = Date.parse(st.predicate.issuedAt);
  const expires = Date.parse(st.predicate.expiresAt);
  if (Number.isNaN(issued) || Number.isNaN(expires)) fail('issuedAt/expiresAt are not dates');
  if (issued > now.getTime() + 300_000) fail(`issued in the future (${st.predicate.issuedAt})`);
  if (expires <= now.getTime()) fail(`expired at ${st.predicate.expiresAt}`);
}

/**
 * The model's file set must equal the subject set: a file added after signing (a second pickle, a
 * `.pth`, a config a loader picks up) was never vetted, so it makes the manifest invalid for this
 * model, named; then every file's sha256 must be the signed one.
 */
async function checkFiles(st: Statement, paths: string[]): Promise<number> {
  const model = await modelFiles(paths);
  if (!model.ok) return fail(model.reason);
  const signed = new Set(st.subject.map((s) => s.name));
  const extra = [...model.files.keys()].filter((n) => !signed.has(n)).sort();
  if (extra.length > 0) fail(`${extra.length} file(s) not covered by the manifest: ${nameList(extra)}`);
  const missing = st.subject.map((s) => s.name).filter((n) => !model.files.has(n));
  if (missing.length > 0) fail(`${missing.length} model file(s) missing: ${nameList(missing)}`);
  const digests = await sha256Files(st.subject.map((s) => model.files.get(s.name)!)).catch(() => fail('a model file became unreadable while it was hashed'));
  for (const s of st.subject) {
    const actual = digests.get(model.files.get(s.name)!)!;
    if (actual !== s.digest.sha256) fail(`model file changed: ${s.name} (sha256 ${actual.slice(0, 12)}…, signed ${s.digest.sha256.slice(0, 12)}…)`);
  }
  return st.subject.length;
}

function nameList(names: string[]): string {
  const shown = names.slice(0, 10).join(', ');
  return names.length > 10 ? `${shown} … and ${names.length - 10} more` : shown;
}

async function checkLibraries(st: Statement, root: string): Promise<void> {
  for (const lib of st.predicate.allow.librariesMapped) {
    if (lib.sha256 === undefined) continue;
    const actual = await sha256File(join(root, lib.path)).catch(() => fail(`library missing: ${lib.path}`));
    if (actual !== lib.sha256) fail(`library changed: ${lib.path}`);
  }
}
