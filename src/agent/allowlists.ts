import type { KeyObject } from 'node:crypto';
import { readFile, realpath } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { LtrackError, wrapError } from '../core/errors.js';
import { verifyManifest } from '../manifest/verify.js';
import type { KeylessIdentity } from '../manifest/keyless-verify.js';
import { verifyBaseline } from './baseline.js';
import { manifestBehaviour } from './behaviour.js';
import type { GuardedModel } from './integrity.js';
import type { AllowedBehaviour } from './types.js';

export interface AllowlistFiles {
  /** Signed vet manifests, each with the model folder it must describe (same order). */
  manifests: { path: string; models: string }[];
  /** Signed environment baselines. */
  baselines: string[];
  /** How manifests are signed: an Ed25519 key, or keyless (Sigstore) with the identity that must have signed. */
  manifestKey?: KeyObject;
  keyless?: KeylessIdentity;
  baselineKey?: KeyObject;
  /** Digest of the rule set in force: a manifest vetted under other rules is refused. */
  rulesetDigest: string;
  allowForced: boolean;
  now?: Date;
}

export interface LoadedAllowlists {
  behaviours: AllowedBehaviour[];
  /** Each file's expiry, for metrics and for the reload that must refuse an expired one. */
  expiries: { path: string; expiresAt: number }[];
  /** The model files the manifests sign, on this host, for the integrity watch. */
  models: GuardedModel[];
}

const MAX_FILE = 64 << 20;

async function readBounded(path: string): Promise<string> {
  const text = await readFile(path, 'utf8').catch((err: unknown) => Promise.reject(wrapError(err, 'bad_input', 'cannot read', path)));
  if (text.length > MAX_FILE) throw new LtrackError('bad_input', `larger than ${MAX_FILE >> 20} MiB: not an allowlist`, { file: path });
  return text;
}

/**
 * Verifies every manifest and baseline before anything attaches, and returns what they allow. Any
 * failure is a LtrackError('manifest_invalid') naming the file and the reason (exit 1): the agent
 * does not start, or (on reload) keeps what it enforces, rather than run unprotected while saying
 * it protects. Each manifest is bound to its model: the folder must hold exactly the signed files,
 * each with its signed digest, re-hashed here.
 */
export async function loadAllowlists(f: AllowlistFiles): Promise<LoadedAllowlists> {
  const behaviours: AllowedBehaviour[] = [];
  const expiries: LoadedAllowlists['expiries'] = [];
  const models: GuardedModel[] = [];
  for (const m of f.manifests) {
    const result = await verifyManifest(await readBounded(m.path), {
      ...(f.keyless ? { keyless: f.keyless } : { publicKey: f.manifestKey }),
      files: [m.models],
      rulesetDigest: f.rulesetDigest,
      allowForced: f.allowForced,
      ...(f.now ? { now: f.now } : {}),
    });
    if (!result.ok) throw new LtrackError('manifest_invalid', `refused: ${result.reason}`, { file: m.path });
    const behaviour = manifestBehaviour(result.statement, m.path);
    // subject names are relative to the model folder the manifest was just verified against; the
    // server reads them where they are on this host (as the kernel resolves them)
    for (const s of result.statement.subject) {
      const path = await realpath(join(resolve(m.models), s.name));
      models.push({ path, sha256: s.digest.sha256, origin: m.path });
      behaviour.reads.push(path);
    }
    behaviours.push(behaviour);
    expiries.push({ path: m.path, expiresAt: Date.parse(result.statement.predicate.expiresAt) / 1000 });
  }
  for (const path of f.baselines) {
    if (!f.baselineKey) throw new LtrackError('usage', 'baselines need --baseline-key (or --key)', { file: path });
    const result = verifyBaseline(await readBounded(path), f.baselineKey, path, f.now);
    if (!result.ok) throw new LtrackError('manifest_invalid', `baseline refused: ${result.reason}`, { file: path });
    behaviours.push(result.behaviour);
    expiries.push({ path, expiresAt: Date.parse(result.expiresAt) / 1000 });
  }
  return { behaviours, expiries, models };
}
