import type { TraceEvent } from '../core/event.js';
import { LtrackError } from '../core/errors.js';
import { resolveLimits, runSandbox, type RunPlan, type SandboxResult } from '../sandbox/index.js';
import { startTrace, type SharedTrace, type TraceLease, type TraceSession, type TraceStats } from '../trace/index.js';
import { derivePhases, lingerers, phaseGaps, tagPhases, type PhaseDerivation } from './phases.js';
import type { Progress } from '../core/progress.js';

export interface DynamicRun {
  sandbox: SandboxResult;
  events: TraceEvent[];
  stats: TraceStats | undefined;
  /** Why this run cannot be trusted to have seen everything; empty when it can. */
  incomplete: string[];
}

/**
 * Runs the sandbox with the tracer attached at the go-handshake: the sandbox's first process is
 * created blocked, the tracer seeds its process tree with that pid (and the container's cgroup),
 * and only then is the process let go — so the harness's very first file open is observed.
 * Events are drained while the sandbox runs, then tagged with the harness phase they fell in, as the
 * kernel saw the harness's phase markers (never as the channel file says: the candidate can write it).
 * With `shared`, the run takes a lease on a tracer already attached (many vets side by side, see
 * src/trace/shared.ts) instead of loading its own; its events are those of its cgroup.
 */
export async function runTraced(plan: RunPlan, onProgress: Progress, shared?: SharedTrace, signal?: AbortSignal): Promise<DynamicRun> {
  let events: TraceEvent[] = [];
  const incomplete: string[] = [];
  let session: TraceSession | undefined;
  let lease: TraceLease | undefined;
  let draining: Promise<void> | undefined;

  const sandbox = await runSandbox(
    plan,
    {
      onPhase: (e) => onProgress(e.edge === 'start' ? `sandbox: ${e.phase} phase` : `sandbox: ${e.phase} phase ${e.ok ? 'done' : 'failed'}`),
      onReady: async (target) => {
        if (shared) {
          lease = shared.lease(target);
          onProgress(`shared tracer follows pid ${target.pid} (cgroup ${lease.cgroupId})`);
          return;
        }
        try {
          // No kernel rules here: a vet records everything the tree does; rules match in TypeScript.
          session = await startTrace(target, { mode: 'observe', detachInBackground: true });
        } catch (err) {
          // Fail closed: without the tracer the load must not run unobserved.
          throw err instanceof LtrackError ? err : new LtrackError('tracer_unavailable', `tracer did not start: ${String(err)}`, { cause: err });
        }
        const s = session;
        draining = (async () => {
          for await (const batch of s) events.push(...batch);
        })();
        onProgress(`tracer attached to pid ${target.pid}${target.cgroupId ? ` (cgroup ${target.cgroupId})` : ''}`);
      },
    },
    signal,
  ).catch(async (err: unknown) => {
    // A failed or aborted sandbox still detaches the tracer before the error goes up (exit 3).
    await session?.stop().catch(() => undefined);
    await draining?.catch(() => undefined);
    await lease?.end().catch(() => undefined);
    throw err;
  });

  let stats: TraceStats | undefined;
  if (lease) {
    const l = await lease.end();
    events = lease.events;
    stats = { events: l.events, drops: l.drops, dropsByCpu: [], dropsByKind: {}, lostForks: l.lostForks, tiers: l.tiers };
    if (l.drops > 0) incomplete.push(`${l.drops} kernel events were dropped while this candidate ran beside others (a drop names no cgroup, so it counts against every candidate running then)`);
    if (l.unattributed > 0) incomplete.push(`${l.unattributed} traced events belonged to no running candidate's cgroup while this candidate ran (they could have been its own)`);
    if (l.lostForks > 0) incomplete.push(`${l.lostForks} child processes could not be added to the traced tree while this candidate ran beside others (they could have been its own)`);
  } else if (session) {
    stats = await session.stop();
    await draining;
    if (stats.drops > 0) incomplete.push(`${stats.drops} kernel events were dropped`);
    if (stats.lostForks > 0) incomplete.push(`${stats.lostForks} child processes could not be added to the traced tree; what they did was not seen`);
  } else {
    incomplete.push('the tracer never attached');
  }
  if (sandbox.timedOut) incomplete.push('the sandbox hit its time limit before the run finished');
  if (sandbox.oomKilled) {
    // Never a block on its own: a benign model that needs more memory than the limit looks the same.
    const mib = Math.round(resolveLimits(plan.limits).memoryBytes / 2 ** 20);
    incomplete.push(
      `the sandbox was killed at its memory limit (${mib} MiB) before the load finished; if the model needs more, vet it again with --memory (e.g. --memory ${Math.ceil((mib * 2) / 1024)}g)`,
    );
  }
  if (sandbox.pidsLimitHits === undefined) incomplete.push("the sandbox's pids limit counter could not be read");
  if (sandbox.cgroupId === undefined) incomplete.push("the sandbox's cgroup id could not be read: neither the tracer nor the socket hooks could follow the run by its cgroup");
  const derived = derivePhases(events);
  if (session || lease) incomplete.push(...phaseGaps(derived));
  tagPhases(events, derived.spans);
  sandbox.phases = phaseRecords(derived, sandbox);
  if (plan.deps) incomplete.push(...installGaps(sandbox.phases));
  sandbox.forgedMarkers = derived.forged;
  sandbox.lingering = lingerers(events, derived);
  return { sandbox, events, stats, incomplete };
}

/**
 * A lock whose install did not complete leaves the vet without what production would run: the
 * packages' own install scripts may not have run to the end, and the import phase imported nothing
 * of them. Fail closed; the harness's word on the failure only adds the reason.
 */
function installGaps(phases: SandboxResult['phases']): string[] {
  const install = phases.find((p) => p.phase === 'install');
  if (!install) return ['the dependency set was given but its install phase was never seen'];
  if (install.ok) return [];
  return [
    `the dependency set did not install (${(install.error ?? 'unknown error').slice(0, 200)}): what production would install and import was not observed; fix the lock or the wheelhouse and vet again`,
  ];
}

/**
 * The phases with the kernel's times, each with what the harness said of it on the channel
 * (ok/error/detail: untrusted information, see readChannel). A phase the kernel saw but the harness
 * never reported on is failed; a report for a phase the kernel never saw is dropped.
 */
function phaseRecords(d: PhaseDerivation, sandbox: SandboxResult): SandboxResult['phases'] {
  const end = d.doneNs ?? d.harnessExitNs ?? Number(process.hrtime.bigint());
  return d.spans.map((s) => {
    const rep = sandbox.reports.find((r) => r.phase === s.phase);
    return {
      phase: s.phase,
      startNs: s.startNs,
      endNs: s.endNs === Number.MAX_SAFE_INTEGER ? end : s.endNs,
      ok: rep?.ok ?? false,
      ...(rep === undefined ? { error: 'the harness reported nothing on this phase' } : rep.error === undefined ? {} : { error: rep.error }),
      ...(rep?.detail ? { detail: rep.detail } : {}),
    };
  });
}
