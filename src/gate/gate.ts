import { createHash, randomBytes, type KeyObject } from 'node:crypto';
import { chmod, cp, mkdir, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import picomatch from 'picomatch';
import type { Detection } from '../core/finding.js';
import { ExitCode } from '../core/exit.js';
import { LtrackError } from '../core/errors.js';
import type { Report } from '../core/report.js';
import { TOOL_VERSION } from '../core/version.js';
import { severityRank } from '../core/severity.js';
import { humanBytes } from '../core/units.js';
import { enumerateCandidate } from '../intake/enumerate.js';
import { sha256Files } from '../manifest/hash.js';
import { loadRuleSet } from '../rules/index.js';
import { defaultPolicy, digestWithPolicy, withUserAllowlist } from '../static/pickle/policy.js';
import type { VetOptions } from '../vet/index.js';
import { downloadFile, expectedDigest, listTree, matches, resolveCommit, type HubSource, type TreeFile } from './hub.js';
import { cacheFolder, checkRepoId, checkRevision } from './names.js';
import { quarantine, Registry, verdictKey, type PromotedFile, type VerdictRecord } from './registry.js';

/** A Hub repo at a revision, or a snapshot folder already on disk (an HF cache entry or a plain folder). */
export type GateSource = { kind: 'hub'; repo: string; revision: string; hub: HubSource } | { kind: 'folder'; path: string; repo?: string; revision?: string };

export interface GateOptions {
  source: GateSource;
  registry: string;
  quarantine?: string;
  /** Only files matching one of these globs are fetched, vetted and promoted (the Hub clients' allow_patterns). */
  allowPatterns?: string[];
  /** Signs the manifest of a promoted commit; without it a Sigstore identity is used when there is one, else no manifest. */
  sign?: { key?: KeyObject; keyless: boolean };
  vet: Omit<VetOptions, 'paths' | 'priorDetections'>;
  /** The digest verdicts are kept under (rulesetDigest()); computed when absent. */
  rulesetDigest?: string;
}

export interface GateOutcome {
  repo: string;
  commit: string;
  revision?: string;
  status: 'pass' | 'block' | 'incomplete';
  /** The verdict came from the registry's records: this commit was gated before under the same rules and version. */
  cached: boolean;
  exitCode: ExitCode;
  /** Why it blocked or was incomplete, one line each. */
  reasons: string[];
  snapshot?: string;
  quarantined?: string;
  record?: VerdictRecord;
  report?: Report;
}

/**
 * Gates one commit: resolved to its sha, fetched (every file checked against the Hub's tree before
 * anything reads it), vetted as one candidate by the same static and sandboxed path as `ltrack
 * vet`, then promoted into the registry (pass), moved to quarantine (block) or left out (incomplete).
 * The verdict is kept per (repo, commit, rule-set digest, ltrack version): gating the same commit
 * again answers from the record. One gate vets a commit at a time (the registry's lock).
 */
export async function gate(opts: GateOptions): Promise<GateOutcome> {
  const registry = new Registry(resolve(opts.registry));
  const digest = opts.rulesetDigest ?? (await rulesetDigest(opts.vet));
  const allow = opts.allowPatterns?.length ? picomatch(opts.allowPatterns, { dot: true }) : () => true;
  const target = await resolveSource(opts.source, allow, opts.vet.onProgress);
  const { repo, commit } = target;
  const key = verdictKey(repo, target.content ? `${commit}:${target.content}` : commit, digest, TOOL_VERSION);

  const cached = await fromRecord(registry, target, key);
  if (cached) return cached;
  const unlock = await registry.lock(repo, commit);
  try {
    const after = await fromRecord(registry, target, key); // another gate may have decided while we waited
    if (after) return after;
    return await vetAndDecide(opts, registry, target, key, allow);
  } finally {
    await unlock();
  }
}

/** The rule set's digest as a vet with these options records it (rules plus the pickle globals policy). */
export async function rulesetDigest(vet: Pick<VetOptions, 'allowGlobals'>): Promise<string> {
  const policy = vet.allowGlobals ? withUserAllowlist(defaultPolicy(), vet.allowGlobals) : defaultPolicy();
  return digestWithPolicy((await loadRuleSet()).digest, policy);
}

/** The recorded verdict of a commit under this rule set and version, if it was gated before (no lock, no fetch). */
export async function recordedOutcome(registryDir: string, repo: string, commit: string, digest: string): Promise<GateOutcome | undefined> {
  return fromRecord(new Registry(resolve(registryDir)), { repo, commit, revision: undefined }, verdictKey(repo, commit, digest, TOOL_VERSION));
}

interface Target {
  repo: string;
  commit: string;
  revision: string | undefined;
  /** Hub: the tree's files, to download; folder: where the snapshot is. */
  tree?: TreeFile[];
  hub?: HubSource;
  folder?: string;
  /** A folder's content digest (contentCommit), part of its verdict key. */
  content?: string;
}

async function resolveSource(source: GateSource, allow: (path: string) => boolean, progress: (m: string) => void): Promise<Target> {
  if (source.kind === 'hub') {
    const repo = checkRepoId(source.repo);
    const revision = checkRevision(source.revision);
    progress(`resolving ${repo}@${revision} at ${new URL(source.hub.endpoint).origin}`);
    const commit = await resolveCommit(source.hub, repo, revision);
    const tree = (await listTree(source.hub, repo, commit)).filter((f) => allow(f.path));
    return { repo, commit, revision, tree, hub: source.hub };
  }
  const folder = resolve(source.path);
  // an HF cache entry names its repo and commit: …/models--ORG--NAME/snapshots/COMMIT
  const cacheEntry = /(?:^|\/)models--([^/]+?)(?:--([^/]+))?\/snapshots\/([0-9a-f]{40})$/.exec(folder);
  const repo = checkRepoId(
    source.repo ??
      (cacheEntry
        ? [cacheEntry[1], cacheEntry[2]].filter(Boolean).join('/')
        : `local/${
            basename(folder)
              .replace(/[^A-Za-z0-9_.-]/g, '_')
              .replace(/^[._-]+/, '') || 'snapshot'
          }`),
  );
  const revision = source.revision === undefined ? undefined : checkRevision(source.revision);
  const content = await contentCommit(folder, allow);
  // a folder's name is not evidence: its verdict is kept under its content as well as its commit
  return { repo, commit: cacheEntry?.[3] ?? content, revision, folder, content };
}

/** A plain folder has no commit: it is named by its content (every path and sha256), 40 hex digits like a commit. */
async function contentCommit(folder: string, allow: (path: string) => boolean): Promise<string> {
  const listed = await enumerateCandidate(folder, 1_000_000);
  const files = listed.files.filter((f) => allow(f.rel));
  const digests = await sha256Files(files.map((f) => f.source));
  const h = createHash('sha256');
  for (const f of files.sort((a, b) => (a.rel < b.rel ? -1 : 1))) h.update(`${f.rel}\0${digests.get(f.source)}\n`);
  return h.digest('hex').slice(0, 40);
}

async function fromRecord(registry: Registry, t: Target, key: string): Promise<GateOutcome | undefined> {
  const record = await registry.readVerdict(t.repo, t.commit, key);
  if (!record) return undefined;
  const base = { repo: t.repo, commit: t.commit, ...(t.revision ? { revision: t.revision } : {}), cached: true, record, reasons: record.reasons };
  if (record.status === 'block') return { ...base, status: 'block', exitCode: ExitCode.Blocked };
  // a pass whose snapshot was removed from the registry since is gated again
  const snapshot = registry.snapshotDir(t.repo, t.commit);
  if (!(await stat(snapshot).catch(() => undefined))) return undefined;
  if (t.revision) await registry.setRef(t.repo, t.revision, t.commit);
  return { ...base, status: 'pass', exitCode: ExitCode.Pass, snapshot };
}

async function vetAndDecide(opts: GateOptions, registry: Registry, t: Target, key: string, allowed: (path: string) => boolean): Promise<GateOutcome> {
  const work = join(registry.root, '.ltrack', 'work', `${cacheFolder(t.repo)}-${t.commit.slice(0, 12)}-${randomBytes(4).toString('hex')}`);
  await mkdir(work, { recursive: true, mode: 0o700 });
  try {
    let folder = t.folder;
    const prior: Detection[] = [];
    const etags = new Map<string, string>();
    if (t.tree && t.hub) {
      folder = join(work, 'snapshot');
      prior.push(...(await fetchSnapshot(t.hub, t.repo, t.commit, t.tree, folder, etags, opts.vet.onProgress)));
    }
    const { vet } = await import('../vet/index.js');
    // bytes that are not what the Hub recorded are never run: the verdict is block whatever they do
    const outcome = await vet({ ...opts.vet, paths: [folder!], priorDetections: prior, staticOnly: opts.vet.staticOnly || prior.length > 0 });
    const report = outcome.report;
    const reportText = `${JSON.stringify(report, null, 2)}\n`;
    // what blocked: the findings at or above --fail-on, the gate's own (bytes not as the Hub
    // recorded them) first, then the most severe
    const own = (ruleId: string) => (ruleId.startsWith('LT-GATE-') ? 1 : 0);
    const reasons = report.findings
      .filter((f) => severityRank(f.severity) >= severityRank(report.verdict.failOn))
      .sort((a, b) => own(b.ruleId) - own(a.ruleId) || severityRank(b.severity) - severityRank(a.severity))
      .map((f) => `${f.ruleId} ${f.title}: ${f.message}`);
    const base = { repo: t.repo, commit: t.commit, ...(t.revision ? { revision: t.revision } : {}), cached: false, report };
    const decided = { key, repo: t.repo, commit: t.commit, decidedAt: new Date().toISOString() };
    switch (report.verdict.status) {
      case 'incomplete':
        return { ...base, status: 'incomplete', exitCode: ExitCode.Incomplete, reasons: report.verdict.reasons };
      case 'block': {
        const record = await registry.writeRecord({ ...decided, status: 'block', reasons }, reportText);
        let quarantined: string | undefined;
        if (opts.quarantine) {
          if (t.tree) quarantined = await quarantine(opts.quarantine, t.repo, t.commit, folder!, reportText);
          else {
            // the user's folder is never moved or changed: the quarantine gets a copy
            const copy = join(work, 'copy');
            await cp(folder!, copy, { recursive: true, dereference: false, verbatimSymlinks: true });
            quarantined = await quarantine(opts.quarantine, t.repo, t.commit, copy, reportText);
          }
        }
        return { ...base, status: 'block', exitCode: ExitCode.Blocked, reasons, record, ...(quarantined ? { quarantined } : {}) };
      }
      case 'pass': {
        const files = promotedFiles(report, folder!, etags, t.tree !== undefined).filter((f) => allowed(f.path));
        const manifest = await signManifest(report, files, folder!, opts.sign);
        const snapshot = await registry.promote(t.repo, t.commit, undefined, files);
        const record = await registry.writeRecord({ ...decided, status: 'pass', reasons: [] }, reportText, manifest);
        if (t.revision) await registry.setRef(t.repo, t.revision, t.commit);
        return { ...base, status: 'pass', exitCode: ExitCode.Pass, reasons: [], snapshot, record };
      }
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Downloads every file of the tree into `dir`; each one that is not what the tree says is a detection. */
async function fetchSnapshot(
  hub: HubSource,
  repo: string,
  commit: string,
  tree: TreeFile[],
  dir: string,
  etags: Map<string, string>,
  progress: (m: string, tick?: boolean) => void,
): Promise<Detection[]> {
  const found: Detection[] = [];
  const total = tree.reduce((n, f) => n + expectedDigest(f).size, 0);
  let done = 0;
  progress(`downloading ${tree.length} file${tree.length === 1 ? '' : 's'} of ${repo}@${commit.slice(0, 12)}`);
  for (const f of tree) {
    const dest = join(dir, f.path);
    await mkdir(dirname(dest), { recursive: true, mode: 0o700 });
    const got = await downloadFile(hub, repo, commit, f, dest);
    await chmod(dest, 0o444);
    done += got.size;
    progress(`${f.path} (${humanBytes(done)} of ${humanBytes(total)})`, true);
    etags.set(f.path, f.lfs ? f.lfs.oid : f.oid);
    if (matches(f, got)) continue;
    const want = expectedDigest(f);
    found.push({
      ruleId: 'LT-GATE-001',
      source: 'static',
      phase: 'static',
      message: `${f.path} as downloaded is ${got.size} bytes with sha256 ${got.sha256}; the Hub's tree for ${commit} says ${want.kind} ${want.value}, ${want.size} bytes`,
      evidence: { repo, commit, path: f.path, expected: want, got },
      location: { file: dest },
    });
  }
  return found;
}

/**
 * The files of a passing vet as the registry gets them: named by their path in the snapshot, with
 * the Hub's etag (LFS sha256 or git blob id) or, for a local folder, their sha256. Only what the
 * report lists was vetted; only that is promoted.
 */
function promotedFiles(report: Report, folder: string, etags: Map<string, string>, downloaded: boolean): PromotedFile[] {
  return report.targets.map((t) => {
    const path = relative(folder, t.path).split(sep).join('/');
    if (path.startsWith('..')) throw new LtrackError('internal', `vetted file outside the snapshot: ${t.path}`);
    return { path, source: t.path, etag: etags.get(path) ?? t.sha256, sha256: t.sha256, private: downloaded };
  });
}

async function signManifest(report: Report, files: PromotedFile[], folder: string, sign: GateOptions['sign']): Promise<{ name: string; text: string } | undefined> {
  const subjects = report.targets.filter((t) => !t.unanalysed).map((t) => t.path);
  if ((!sign?.key && !sign?.keyless) || files.length === 0 || subjects.length === 0) return undefined;
  const { signedManifestFile } = await import('../manifest/index.js');
  return signedManifestFile(report, { files: subjects, root: folder, ...(sign.key ? { key: sign.key } : {}) });
}
