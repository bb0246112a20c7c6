import { posix, relative, resolve, sep } from 'node:path';
import { LtrackError } from '../core/errors.js';
import { TOOL_VERSION } from '../core/version.js';
import type { Report } from '../core/report.js';
import { sha256Files, type HashProgress } from './hash.js';
import { generaliseReads } from './generalise.js';
import { commonFolder } from './modelfiles.js';
import { sha256 } from '../core/sha256.js';
import { PREDICATE_TYPE, STATEMENT_TYPE, type Statement, type Subject } from './types.js';

interface BuildOptions {
  /** The model files the vet covered, as paths on this host. */
  files: string[];
  /** Subject names are relative to this folder (default: the files' common folder). */
  root?: string;
  expiresInDays?: number;
  /** Write one for a vet that did not pass (`--force-manifest`); the predicate says so. */
  forced?: boolean;
  now?: Date;
  onProgress?: HashProgress;
}

const DEFAULT_EXPIRY_DAYS = 90;

/**
 * The allowlist statement of a vet: subjects are the model files with their sha256 (hashed again
 * here and checked against the report, so a file changed since the vet cannot be signed), the
 * predicate is what the candidate did while vetted, generalised where a list of files would only
 * churn. Refuses a vet that did not pass unless forced.
 */
export async function buildManifest(report: Report, opts: BuildOptions): Promise<Statement> {
  if (report.verdict.status !== 'pass' && !opts.forced) {
    throw new LtrackError('usage', `the vet did not pass (${report.verdict.status}): no manifest is written without --force-manifest`);
  }
  if (opts.files.length === 0) throw new LtrackError('usage', 'a manifest needs at least one model file');
  const files = opts.files.map((f) => resolve(f));
  const root = resolve(opts.root ?? commonFolder(files));
  const digests = await sha256Files(files, opts.onProgress);
  const vetted = new Map(report.targets.map((t) => [resolve(t.path), t.sha256]));
  // An allowlist vouches for its subjects: never for a file whose content the vet did not analyse.
  for (const t of report.targets) {
    if (t.unanalysed && files.includes(resolve(t.path))) throw new LtrackError('bad_input', `not analysed by the vet (${t.unanalysed}): it cannot be a manifest subject`, { file: t.path });
  }

  const subject: Subject[] = files
    .map((f) => {
      const sha256 = digests.get(f)!;
      const atVet = vetted.get(f);
      if (atVet !== undefined && atVet !== sha256) {
        throw new LtrackError('bad_input', 'changed since it was vetted (sha256 differs from the report)', { file: f });
      }
      return { name: relative(root, f).split(sep).join(posix.sep), digest: { sha256 } };
    })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  const now = opts.now ?? new Date();
  const expires = new Date(now.getTime() + (opts.expiresInDays ?? DEFAULT_EXPIRY_DAYS) * 86_400_000);
  const o = report.observed;
  return {
    _type: STATEMENT_TYPE,
    subject,
    predicateType: PREDICATE_TYPE,
    predicate: {
      allow: {
        filesRead: generaliseReads(o.filesRead),
        librariesMapped: o.librariesMapped.map((l) => ({ path: l.path, ...(l.sha256 ? { sha256: l.sha256 } : {}) })),
        exec: o.exec.map((e) => ({ path: e.path, argv: e.argv })),
        network: o.network.map((n) => ({ kind: n.kind, family: n.family, addr: n.addr, port: n.port })),
      },
      packages: o.packages,
      rulesetDigest: report.rulesetDigest,
      verdict: report.verdict.status,
      forced: report.verdict.status !== 'pass',
      tool: { name: 'ltrack', version: TOOL_VERSION },
      issuedAt: now.toISOString(),
      expiresAt: expires.toISOString(),
      omsRootDigest: omsRootDigest(subject),
    },
  };
}

/** OMS v1.0 root digest: sha256 over the raw (binary) resource digests in name order. */
export function omsRootDigest(subject: Subject[]): string {
  const sorted = [...subject].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return sha256(...sorted.map((s) => Buffer.from(s.digest.sha256, 'hex')));
}
