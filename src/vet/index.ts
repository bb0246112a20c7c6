import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Detection } from '../core/finding.js';
import type { TraceEvent } from '../core/event.js';
import type { Severity } from '../core/severity.js';
import { LtrackError } from '../core/errors.js';
import { ExitCode } from '../core/exit.js';
import { TOOL_VERSION } from '../core/version.js';
import { scanPaths } from '../static/index.js';
import { analyseLock } from '../locks/index.js';
import { loadRuleSet, matchEvents } from '../rules/index.js';
import { score, verdict as decide } from '../scoring/index.js';
import { REPORT_VERSION, type Report } from '../report/schema.js';
import { pickDriver, requireImage } from '../sandbox/index.js';
import { sha256File } from '../manifest/index.js';
import { runTraced, type DynamicRun } from './dynamic.js';
import { outcomeDetections } from './outcome.js';
import { summarise } from './observed.js';
import { loadablePlanModels } from './plan.js';
import { sinkholeFindings } from './sinkhole.js';
import { markDecoys } from './decoys.js';

export interface VetOptions {
  paths: string[];
  staticOnly: boolean;
  sandbox: 'docker' | 'bwrap' | 'auto';
  deps?: string;
  wheelhouse?: string;
  network: 'none' | 'sinkhole';
  timeoutSec: number;
  failOn: Severity;
  onProgress: (message: string) => void;
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

  for (const p of opts.paths) await assertReadable(p);
  const rules = await timed('rules', () => loadRuleSet());
  opts.onProgress('static analysis');
  const statik = await timed('static', () => scanPaths(opts.paths, { onProgress: opts.onProgress }));

  const lockChecks = opts.deps ? await analyseLock(opts.deps) : [];
  const detections: Detection[] = [...statik.detections, ...lockChecks];
  let events: TraceEvent[] = [];
  let dynamic: DynamicRun | undefined;
  const incomplete: string[] = [];
  let driver: 'docker' | 'bwrap' | 'none' = 'none';

  if (!opts.staticOnly) {
    const chosen = await pickDriver(opts.sandbox);
    driver = chosen;
    const models = loadablePlanModels(statik.targets);
    if (models.length === 0 && !opts.deps) incomplete.push('no file in a format the sandbox can load; nothing was run dynamically');
    else dynamic = await timed('sandbox', () =>
      runTraced(
        {
          driver: chosen,
          models,
          ...(opts.deps ? { deps: { hostPath: opts.deps } } : {}),
          ...(opts.wheelhouse ? { wheelhouse: opts.wheelhouse } : {}),
          network: opts.network,
          timeoutSec: opts.timeoutSec,
        },
        opts.onProgress,
      ),
    );
    if (dynamic) {
      events = dynamic.events;
      incomplete.push(...dynamic.incomplete);
      markDecoys(events, dynamic.sandbox.decoys);
      detections.push(...outcomeDetections(dynamic.sandbox), ...matchEvents(rules, events));
    }
  }
  const sink = dynamic?.sandbox.sinkhole ? sinkholeFindings(dynamic.sandbox, events) : undefined;
  if (sink) detections.push(...sink.detections);

  const findings = score(rules, detections, {
    runAsRoot: dynamic?.sandbox.asRoot ?? false,
  });
  const report: Report = {
    version: REPORT_VERSION,
    tool: { name: 'ltrack', version: TOOL_VERSION },
    startedAt: started.toISOString(),
    targets: statik.targets,
    verdict: decide(findings, { failOn: opts.failOn, incompleteReasons: incomplete }),
    findings,
    observed: {
      ...(await withLibraryDigests(summarise(events, dynamic?.sandbox.packages ?? []), driver)),
      ...(sink ? { sinkhole: sink.captures } : {}),
    },
    stats: {
      events: events.length,
      drops: dynamic?.stats?.drops ?? 0,
      tracerTiers: dynamic?.stats?.tiers ?? [],
      sandbox: driver,
      durationsMs: durations,
    },
    rulesetDigest: rules.digest,
  };
  return { report, events, exitCode: exitCodeOfStatus(report.verdict.status) };
}

/**
 * Libraries the run mapped executable, hashed from the image's rootfs (the sandbox's root is that
 * rootfs, read-only), so a manifest can pin them. Libraries from the run's tmpfs are gone: no digest.
 */
async function withLibraryDigests(observed: Report['observed'], driver: string): Promise<Report['observed']> {
  if (driver === 'none') return observed;
  const { rootfs } = await requireImage('bwrap').catch(() => ({ rootfs: undefined }));
  if (!rootfs) return observed;
  const librariesMapped = await Promise.all(
    observed.librariesMapped.map(async (l) => {
      const sha256 = await sha256File(join(rootfs, l.path)).catch(() => undefined);
      return sha256 ? { ...l, sha256 } : l;
    }),
  );
  return { ...observed, librariesMapped };
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

async function assertReadable(path: string): Promise<void> {
  try {
    await stat(path);
  } catch (err) {
    throw new LtrackError('bad_input', 'cannot read: no such file or folder', { cause: err, file: path });
  }
}
