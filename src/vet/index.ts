import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Detection } from '../core/finding.js';
import type { TraceEvent } from '../core/event.js';
import type { Severity } from '../core/severity.js';
import { LtrackError } from '../core/errors.js';
import { ExitCode } from '../core/exit.js';
import { TOOL_VERSION } from '../core/version.js';
import { scanStaged } from '../static/index.js';
import { resolveLimits } from '../formats/limits.js';
import { stageCandidates, type Staging } from '../intake/stage.js';
import { listInPlace } from '../intake/in-place.js';
import { loaderOpensByName } from '../intake/loader-names.js';
import { loadRuleSet, matchEvents, type RuleSet } from '../rules/index.js';
import { score, verdict as decide } from '../scoring/index.js';
import { REPORT_VERSION, type Report } from '../core/report.js';
import type { DynamicRun } from './dynamic.js';
import type { SharedTrace } from '../trace/shared.js';
import type { LoaderVersions } from '../sandbox/versions.js';
import { outcomeDetections } from './outcome.js';
import { summarise } from './observed.js';
import { loadablePlanModels } from './plan.js';
import { sinkholeFindings } from './sinkhole.js';
import { settleUnknowns } from './settle.js';
import { defaultPolicy, digestWithPolicy, withUserAllowlist } from '../static/pickle/policy.js';
import { markDecoys } from './decoys.js';
import { loaderStack } from './loader-stack.js';
import type { Progress } from '../core/progress.js';

export interface VetOptions {
  paths: string[];
  staticOnly: boolean;
  /**
   * Read the candidate's files where they lie instead of from private copies (src/intake/in-place.ts):
   * for a static-only vet whose report signs nothing — the copy would cost more than the analysis.
   * Refused with a sandbox, which must load the very bytes that were analysed.
   */
  readInPlace?: boolean;
  sandbox: 'docker' | 'bwrap' | 'auto';
  deps?: string;
  /** A [safe] table admitting more pickle globals for this vet (its digest goes into the report and rule-set digest). */
  allowGlobals?: string;
  wheelhouse?: string;
  network: 'none' | 'sinkhole';
  timeoutSec: number;
  /** The sandbox's memory limit in bytes; sized from the models when absent (src/sandbox/sizing.ts). */
  memoryBytes?: number;
  failOn: Severity;
  onProgress: Progress;
  /**
   * Aborts the vet (the CLI's SIGINT/SIGTERM): the sandbox is killed, and the tracer, the sandbox's
   * resources and the staging copies are released before vet rejects with the signal's reason.
   */
  signal?: AbortSignal;
  /** Found before the vet by its caller (the gate: a downloaded file that is not what the Hub's tree says), scored with the rest. */
  priorDetections?: Detection[];
  /** What the vets of one batch share (vetMany); without it the vet loads its own and attaches its own tracer. */
  batch?: VetBatch;
}

/**
 * Loaded once for a batch of vets instead of once per candidate: the tracer each sandbox takes a
 * lease on, the rule set (~0.3 s to read, validate and score), the image's identity and loader versions.
 */
export interface VetBatch {
  tracer?: SharedTrace;
  rules: Promise<RuleSet>;
  image?: Promise<ImageFacts>;
}

/** The sandbox image a report names: its tag, rootfs (libraries are hashed from it) and loader versions. */
export interface ImageFacts {
  tag: string;
  rootfs: string | undefined;
  versions: LoaderVersions;
}

export async function imageFacts(): Promise<ImageFacts> {
  const { imageLoaderVersions, requireImage } = await import('../sandbox/index.js');
  const { tag, rootfs } = await requireImage('bwrap').catch(() => ({ tag: 'unknown', rootfs: undefined }));
  return { tag, rootfs, versions: rootfs ? await imageLoaderVersions(rootfs) : {} };
}

export interface VetOutcome {
  report: Report;
  events: TraceEvent[];
  exitCode: ExitCode;
}

/** The whole vet: static analysis, the traced sandboxed run, rules and scoring, the report. */
export async function vet(opts: VetOptions): Promise<VetOutcome> {
  const started = new Date();
  const durations: Record<string, number> = {};
  const timed = async <T>(name: string, body: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await body();
    } finally {
      durations[name] = Math.round(performance.now() - t0);
    }
  };

  // Every candidate is copied once into a private staging area: the copy is hashed, scanned and
  // mounted, so the bytes vetted are the bytes that run. Removed on every path out of here. A large
  // file is mounted there from the descriptor that opened it instead, and held to its identity
  // until the report is made; a static-only vet may read every file in place (each file pinned).
  const limits = resolveLimits();
  if (opts.readInPlace && !opts.staticOnly) throw new LtrackError('internal', 'a vet that runs the candidate cannot read it in place');
  if (opts.wheelhouse) await assertFolder(opts.wheelhouse);
  const stagings: Staging[] = [];
  try {
    const signal = opts.signal ? { signal: opts.signal } : {};
    const staging = await timed('stage', (): Promise<Staging> =>
      opts.readInPlace
        ? listInPlace(opts.paths, { maxFiles: limits.maxFilesPerFolder, onProgress: opts.onProgress })
        : stageCandidates(opts.paths, { maxFiles: limits.maxFilesPerFolder, onProgress: opts.onProgress, mountLarge: true, ...signal }),
    );
    stagings.push(staging);
    const deps = opts.deps ? await stageDeps(opts.deps, opts.onProgress) : undefined;
    if (deps) stagings.push(deps.staging);
    // The wheelhouse too: the archives pip installs are the ones the lock's hashes were checked against.
    const wheels = opts.wheelhouse ? await stageCandidates([opts.wheelhouse], { maxFiles: limits.maxFilesPerFolder, onProgress: opts.onProgress, listable: true, ...signal }) : undefined;
    if (wheels) stagings.push(wheels);
    return await vetStaged(opts, staging, { deps: deps?.path, wheelhouse: wheels?.candidates[0]?.dir }, started, durations, timed);
  } finally {
    for (const s of stagings) await s.cleanup();
  }
}

/** The lock file too: the lock analysed is the lock installed. A folder is bad input. */
async function stageDeps(deps: string, onProgress: Progress): Promise<{ staging: Staging; path: string }> {
  if ((await stat(deps).catch(() => undefined))?.isDirectory()) throw new LtrackError('bad_input', '--deps must be a requirements or lock file, not a folder', { file: deps });
  const staging = await stageCandidates([deps], { maxFiles: 1, onProgress });
  if (staging.candidates[0]!.folder) {
    await staging.cleanup(); // a file swapped for a folder since the check above
    throw new LtrackError('bad_input', '--deps must be a requirements or lock file, not a folder', { file: deps });
  }
  return { staging, path: staging.files[0]!.staged };
}

async function vetStaged(
  opts: VetOptions,
  staging: Staging,
  stagedInputs: { deps: string | undefined; wheelhouse: string | undefined },
  started: Date,
  durations: Record<string, number>,
  timed: <T>(name: string, body: () => Promise<T>) => Promise<T>,
): Promise<VetOutcome> {
  const rules = await timed('rules', () => opts.batch?.rules ?? loadRuleSet());
  const policy = opts.allowGlobals ? withUserAllowlist(defaultPolicy(), opts.allowGlobals) : defaultPolicy();
  opts.onProgress(`static analysis of ${staging.files.length} file${staging.files.length === 1 ? '' : 's'}`);
  // A vet that runs the candidate starts the sandbox while large files are still being hashed.
  const statik = await timed('static', () => scanStaged(staging, { onProgress: opts.onProgress, policy, digestsLater: !opts.staticOnly }));
  opts.signal?.throwIfAborted();

  const { deps: stagedDeps, wheelhouse: stagedWheelhouse } = stagedInputs;
  // the lock parsers (and their YAML library) load only for a vet with --deps
  const lockChecks = stagedDeps && opts.deps ? renameFile(await (await import('../locks/index.js')).analyseLock(stagedDeps), stagedDeps, opts.deps) : [];
  const detections: Detection[] = [...(opts.priorDetections ?? []), ...statik.detections, ...lockChecks];
  let events: TraceEvent[] = [];
  let dynamic: DynamicRun | undefined;
  const incomplete: string[] = [...unaccounted(statik.targets, statik.skipped), ...statik.incomplete];
  let driver: 'docker' | 'bwrap' | 'none' = 'none';
  const models = loadablePlanModels(statik.targets, staging.files);

  if (!opts.staticOnly) {
    // The sandbox drivers (docker client), the tracer and its addon load only for a dynamic vet.
    const [{ memoryForModels, pickDriver }, { runTraced }] = await Promise.all([import('../sandbox/index.js'), import('./dynamic.js')]);
    const chosen = await pickDriver(opts.sandbox);
    driver = chosen;
    if (models.length === 0 && !opts.deps) incomplete.push('no file in a format the sandbox can load; nothing was run dynamically');
    else {
      opts.onProgress(`sandbox: starting (${chosen})`);
      dynamic = await timed('sandbox', () =>
        runTraced(
          {
            driver: chosen,
            models,
            ...(stagedDeps ? { deps: { hostPath: stagedDeps } } : {}),
            ...(stagedWheelhouse ? { wheelhouse: stagedWheelhouse } : {}),
            network: opts.network,
            timeoutSec: opts.timeoutSec,
            limits: { memoryBytes: opts.memoryBytes ?? memoryForModels(models.map((m) => ({ format: m.format, size: statik.targets.find((t) => t.path === m.reportPaths[0])?.size ?? 0 }))) },
          },
          opts.onProgress,
          opts.batch?.tracer,
          opts.signal,
        ),
      );
      opts.onProgress('judging what the kernel saw');
    }
    if (dynamic) {
      events = dynamic.events;
      incomplete.push(...dynamic.incomplete);
      markDecoys(events, dynamic.sandbox.decoys);
      detections.push(...outcomeDetections(dynamic.sandbox), ...matchEvents(rules, events));
    }
  }
  // What was analysed is what the sandbox loaded: every digest is of the file as it was listed, and
  // no file mounted in place was written since.
  await timed('digests', () => statik.digests);
  staging.assertUnchanged();
  incomplete.push(...settleUnknowns(detections, dynamic ? { sandbox: dynamic.sandbox, models, events } : undefined));
  const sink = dynamic?.sandbox.sinkhole ? sinkholeFindings(dynamic.sandbox, events) : undefined;
  if (sink) detections.push(...sink.detections);

  const image = driver === 'none' ? undefined : await (opts.batch?.image ?? imageFacts());
  const observed = image ? await withLibraryDigests(summarise(events, dynamic?.sandbox.packages ?? []), image) : { observed: summarise(events, []), incomplete: [] };
  incomplete.push(...observed.incomplete);
  const findings = score(rules, detections);
  const report: Report = {
    version: REPORT_VERSION,
    tool: { name: 'ltrack', version: TOOL_VERSION },
    startedAt: started.toISOString(),
    targets: statik.targets,
    ...(statik.skipped.length ? { skipped: statik.skipped.map(({ path, reason, effect }) => ({ path, reason, effect })) } : {}),
    verdict: decide(findings, { failOn: opts.failOn, incompleteReasons: incomplete }),
    findings,
    observed: {
      ...observed.observed,
      ...(sink ? { sinkhole: sink.captures } : {}),
    },
    stats: {
      events: events.length,
      drops: dynamic?.stats?.drops ?? 0,
      tracerTiers: dynamic?.stats?.tiers ?? [],
      sandbox: driver,
      durationsMs: durations,
      ...(image ? { loaders: loaderStack({ tag: image.tag, ...image.versions }, dynamic?.sandbox.packages ?? [], events) } : {}),
    },
    rulesetDigest: digestWithPolicy(rules.digest, policy),
    globalsPolicy: [...policy.sources],
  };
  return { report, events, exitCode: exitCodeOfStatus(report.verdict.status) };
}

/**
 * Libraries the run mapped executable, hashed from the image's rootfs (the sandbox's root is that
 * rootfs, read-only), so a manifest can pin them. Libraries from the run's tmpfs are gone: no digest.
 * Returns the observed summary with those digests, and why some could not be had (incomplete reasons).
 */
async function withLibraryDigests(observed: Report['observed'], { rootfs }: ImageFacts): Promise<{ observed: Report['observed']; incomplete: string[] }> {
  if (observed.librariesMapped.length === 0) return { observed, incomplete: [] };
  if (!rootfs) return { observed, incomplete: ["the sandbox image's rootfs was not found: the libraries the run mapped could not be hashed"] };
  const { rootfsDigests } = await import('./libdigests.js');
  const { digests, failed } = await rootfsDigests(
    rootfs,
    observed.librariesMapped.map((l) => l.path),
  );
  const librariesMapped = observed.librariesMapped.map((l) => {
    const sha256 = digests.get(l.path);
    return sha256 ? { ...l, sha256 } : l;
  });
  const incomplete = failed.length ? [`${failed.length} libraries the run mapped could not be hashed (${failed.slice(0, 3).join(', ')}${failed.length > 3 ? ', …' : ''})`] : [];
  return { observed: { ...observed, librariesMapped }, incomplete };
}

function exitCodeOfStatus(status: Report['verdict']['status']): ExitCode {
  switch (status) {
    case 'pass':
      return ExitCode.Pass;
    case 'block':
      return ExitCode.Blocked;
    case 'incomplete':
      return ExitCode.Incomplete;
  }
}

/**
 * Files the vet could not vouch for. One a loader opens by its name (pytorch_model.bin, *.pt,
 * *.pkl, …) whose content was not analysed could be anything that loader accepts: the verdict is
 * incomplete, never pass. So is a symlink to a folder that was not followed.
 */
export function unaccounted(targets: Report['targets'], skipped: { path: string; reason: string; effect: string }[]): string[] {
  const out: string[] = [];
  for (const t of targets) {
    if (t.unanalysed && loaderOpensByName(basename(t.path))) out.push(`${t.path}: ${t.unanalysed}, and a loader opens it by its name`);
  }
  for (const s of skipped) if (s.effect === 'incomplete') out.push(`${s.path}: ${s.reason}`);
  return out;
}

/** --wheelhouse is mounted as a folder: anything else (a FIFO, a device) is bad input. */
async function assertFolder(path: string): Promise<void> {
  const s = await stat(path).catch((err: unknown) => {
    throw new LtrackError('bad_input', 'cannot read: no such folder', { cause: err, file: path });
  });
  if (!s.isDirectory()) throw new LtrackError('bad_input', '--wheelhouse must be a folder of wheels, sdists or conda archives', { file: path });
}

/** Findings about a staged copy name the user's file. */
function renameFile(detections: Detection[], from: string, to: string): Detection[] {
  return detections.map((d) => (d.location?.file === from ? { ...d, location: { ...d.location, file: to } } : d));
}
