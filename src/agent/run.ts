import { readFile, realpath, stat } from 'node:fs/promises';
import { cgroupLayout, processCgroupDirs } from '../core/cgroup-layout.js';
import type { EnforcementMode, KernelAllowlist } from '../core/kernel-filter.js';
import { LtrackError, wrapError } from '../core/errors.js';
import { startTrace, type TraceSession, type TraceTarget } from '../trace/index.js';
import { loadAllowlists, type AllowlistFiles, type LoadedAllowlists } from './allowlists.js';
import { compileAllowlist, type CompiledAllowlist } from './behaviour.js';
import { ModelGuard, type GuardedModel } from './integrity.js';
import { cgroupIdOf, listPods, podCgroup, type PodSelection } from './pods.js';
import { CONFINE, confinedCommand, probeLandlock } from './landlock.js';
import { serveMetrics, type AgentMetrics } from './metrics.js';
import { judge, judgeByRules, type Judged } from './judge.js';
import type { RuleSet } from '../rules/ruleset.js';
import { launchHeld, type HeldCommand } from './launch.js';
import type { AgentOutputs } from './outputs.js';
import { enforcementTiers } from './tiers.js';
import type { AgentAction, AllowedBehaviour } from './types.js';

/** What `ltrack agent` holds to its allowlists: a cgroup (and processes started in it later), a process tree, or a command it starts. */
export type AgentTarget = { cgroup: string } | { container: string } | { pods: PodSelection; everyMs: number } | { pid: number } | { command: string[] };

export interface AgentRun {
  files: AllowlistFiles;
  mode: EnforcementMode;
  /** The rule set in force (its digest is the one manifests must carry): judges what no allow list describes. */
  rules: RuleSet;
  target: AgentTarget;
  /** Serve the telemetry (which must be `outputs.telemetry`) as Prometheus metrics at ADDR:PORT. */
  metrics?: { listen: string; metrics: AgentMetrics };
  /** `-- CMD` only: confine the command with Landlock to the allowlists' reads and programs before it runs. */
  landlock?: boolean;
  /** bpffs folder to pin the programs in: they keep enforcing after the agent exits, and a later agent pinned there adopts them. */
  pin?: string;
  /** Where a model file that changed after verification is moved (enforce); absent: left in place, its openers killed. */
  quarantine?: string;
  outputs: AgentOutputs;
  /** One line for the operator (stderr). */
  log: (line: string) => void;
}

/**
 * A running container's cgroup v2 folder: dockerode's inspect gives its init process, whose
 * /proc/PID/cgroup names the folder (the same under the systemd and cgroupfs drivers). Processes
 * started in the container later (docker exec) land in it and are held too.
 */
async function containerTarget(id: string): Promise<{ cgroup: string; root: string }> {
  const { docker } = await import('../sandbox/docker-client.js');
  const info = await docker()
    .getContainer(id)
    .inspect()
    .catch((err: unknown) => Promise.reject(wrapError(err, 'usage', `no container ${JSON.stringify(id)} (docker inspect)`)));
  if (!info.State.Running || !info.State.Pid) throw new LtrackError('usage', `container ${id} is not running`);
  const dirs = processCgroupDirs(await readFile(`/proc/${info.State.Pid}/cgroup`, 'utf8'), await cgroupLayout());
  if (dirs.v2 === undefined) throw new LtrackError('tracer_unavailable', 'containers can only be held on a cgroup v2 host (no unified hierarchy here)');
  // the container's files as its processes see them: where its libraries are hashed
  return { cgroup: dirs.v2, root: `/proc/${info.State.Pid}/root` };
}

/**
 * Keeps the traced cgroups equal to the selected pods' on this node: listed now and every
 * `everyMs`, a new pod's cgroup added (its processes, and those started in it later, are held), a
 * pod gone removed. A failed list changes nothing and is said once until one succeeds.
 */
function followPods(sel: PodSelection, everyMs: number, session: TraceSession, log: (line: string) => void): { stop: () => void } {
  const held = new Map<string, { cgroupId: number; name: string }>();
  let failing = false;
  let running = false;
  const root = cgroupLayout().then((l) => l.v2Root);
  const reconcile = async () => {
    if (running) return;
    running = true;
    try {
      const pods = await listPods(sel);
      failing = false;
      const seen = new Set<string>();
      for (const p of pods) {
        seen.add(p.uid);
        if (held.has(p.uid)) continue;
        const v2 = await root;
        const folder = v2 === undefined ? undefined : await podCgroup(v2, p.uid);
        if (folder === undefined) continue; // not started yet: the next round finds it
        const cgroupId = await cgroupIdOf(folder);
        session.addTarget({ cgroupId });
        held.set(p.uid, { cgroupId, name: `${p.namespace}/${p.name}` });
        log(`ltrack agent: holding pod ${p.namespace}/${p.name} (${folder})`);
      }
      for (const [uid, h] of held) {
        if (seen.has(uid)) continue;
        session.removeCgroup(h.cgroupId);
        held.delete(uid);
        log(`ltrack agent: pod ${h.name} is gone`);
      }
    } catch (err) {
      if (!failing) log(`ltrack agent: cannot list pods (${(err as Error).message}); the pods held stay held`);
      failing = true;
    } finally {
      running = false;
    }
  };
  void reconcile();
  const timer = setInterval(() => void reconcile(), everyMs);
  return { stop: () => clearInterval(timer) };
}

/** A cgroup v2 folder as the kernel's cgroup id (its inode in the v2 tree). */
async function cgroupId(path: string): Promise<number> {
  const st = await stat(path).catch((err: unknown) => Promise.reject(wrapError(err, 'usage', 'cannot read the cgroup', path)));
  if (!st.isDirectory()) throw new LtrackError('usage', 'not a cgroup folder', { file: path });
  return st.ino;
}

/** Every library an allowlist admits by digest, once. */
function libraryFiles(behaviours: readonly AllowedBehaviour[]): GuardedModel[] {
  const out = new Map<string, GuardedModel>();
  for (const b of behaviours) for (const l of b.libraries) if (l.sha256 !== undefined && !out.has(l.path)) out.set(l.path, { path: l.path, sha256: l.sha256, origin: b.origin, kind: 'library' });
  return [...out.values()];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function describeProblems(c: CompiledAllowlist, log: (line: string) => void): void {
  if (c.problems.length === 0) return;
  const first = c.problems[0]!;
  log(
    `ltrack agent: ${c.problems.length} signed librar${c.problems.length === 1 ? 'y is' : 'ies are'} not admitted on this host (first: ${first.path} from ${first.origin}: ${first.reason}); mapping them is enforced as unlisted`,
  );
}

/**
 * Verifies the allowlists, attaches the tracer with them as kernel maps, starts or follows the
 * target, and judges every event until the target ends (a command exits, a pid is gone) or SIGINT
 * or SIGTERM arrives; SIGHUP re-verifies and swaps the maps. Returns the exit code: the command's
 * own for `-- CMD`, else 0 after a clean stop.
 */
export async function runAgent(run: AgentRun): Promise<number> {
  // served before anything attaches, so a taken port fails the start cleanly; /healthz answers 503
  // until the tracer is attached and after it is stopped
  const health = { enforcing: false };
  const served = run.metrics ? await serveMetrics(run.metrics.listen, run.metrics.metrics, () => health.enforcing) : undefined;
  if (served) run.log(`ltrack agent: metrics on ${served.url} (and /healthz)`);
  try {
    return await hold(run, health);
  } finally {
    health.enforcing = false;
    await served?.close();
  }
}

async function hold(run: AgentRun, health: { enforcing: boolean }): Promise<number> {
  const { mode, outputs, log } = run;
  const container = 'container' in run.target ? await containerTarget(run.target.container) : undefined;
  const root = container?.root ?? '/';
  const loaded = await loadAllowlists(run.files);
  let compiled = await compileAllowlist(loaded.behaviours, root);
  describeProblems(compiled, log);
  // --landlock: the launcher applies Landlock then execs the command; its own exec is allowed
  let launcher: string | undefined;
  if (run.landlock) {
    if (!('command' in run.target)) throw new LtrackError('usage', '--landlock applies to a command the agent starts (-- CMD)');
    if (mode !== 'enforce') throw new LtrackError('usage', '--landlock prevents: it has no observe mode');
    const probe = await probeLandlock();
    if (!probe.ok) throw new LtrackError('tracer_unavailable', `Landlock cannot be applied here: ${probe.reason}`);
    launcher = await realpath(CONFINE);
  }
  const withLauncher = (k: KernelAllowlist): KernelAllowlist => (launcher ? { ...k, execPaths: [...k.execPaths, launcher] } : k);
  let judged: Judged = { behaviours: loaded.behaviours, libraryIds: compiled.libraryIds, ...(launcher ? { launcher, landlock: true } : {}) };
  const label = [...run.files.manifests.map((m) => m.path), ...run.files.baselines].join(',');

  let target: TraceTarget;
  let held: HeldCommand | undefined;
  const cgroup = 'cgroup' in run.target ? run.target.cgroup : container?.cgroup;
  if (cgroup !== undefined) target = { cgroupId: await cgroupId(cgroup) };
  else if ('pid' in run.target) {
    if (!alive(run.target.pid)) throw new LtrackError('usage', `no process ${run.target.pid}`);
    target = { pid: run.target.pid };
  } else if ('pods' in run.target) {
    target = {}; // pods are added as they are found, below
  } else if ('command' in run.target) {
    held = launchHeld(launcher ? confinedCommand(loaded.behaviours, run.target.command) : run.target.command);
    target = { pid: held.pid };
  } else throw new LtrackError('internal', 'agent target');

  // Libraries admitted by digest are guarded like model files: rewritten in place (same inode, which
  // the kernel's allow list still admits) they are unreadable to the held processes until verified
  // again. Paths are the host's own only: a container's are seen through /proc/PID/root.
  const guarded = [...loaded.models, ...(root === '/' ? libraryFiles(loaded.behaviours) : [])];
  let session: TraceSession;
  try {
    session = await startTrace(target, { mode, allowlist: withLauncher(compiled.kernel), guard: guarded.length > 0, ...(run.pin !== undefined ? { pin: run.pin } : {}) });
  } catch (err) {
    // the held command never got its go: closing the pipe makes it exit without running
    held?.child.kill('SIGKILL');
    throw err;
  }
  let actions = 0;
  const emit = (a: AgentAction) => {
    actions++;
    outputs.emit(a);
  };
  const guard = new ModelGuard(session, { mode, ...(run.quarantine ? { quarantine: run.quarantine } : {}), emit, telemetry: outputs.telemetry, log });
  try {
    await guard.start(guarded);
  } catch (err) {
    held?.child.kill('SIGKILL');
    await session.stop().catch(() => undefined);
    throw err;
  }
  const tiers = enforcementTiers(mode, loaded.models.length > 0, launcher !== undefined);
  outputs.telemetry.tiers(tiers);
  outputs.telemetry.manifests(loaded.expiries);
  log(
    `ltrack agent: ${mode === 'enforce' ? 'enforcing' : 'observing (no action is taken)'} ${run.files.manifests.length} manifest(s) and ${run.files.baselines.length} baseline(s) on ` +
      `${cgroup !== undefined ? `cgroup ${cgroup}` : 'pods' in run.target ? `pods ${run.target.pods.selector} on node ${run.target.pods.node}` : held && 'command' in run.target ? `pid ${held.pid} (${run.target.command[0] ?? ''})` : `pid ${target.pid}`}; ` +
      Object.entries(tiers)
        .map(([k, t]) => `${k} ${t}`)
        .join(', ') +
      session
        .stats()
        .tiers.filter((t) => t.startsWith('pinned:'))
        .map((t) => `; ${t}`)
        .join(''),
  );

  health.enforcing = true;
  let stopRequested: (() => void) | undefined;
  const stopped = new Promise<void>((r) => (stopRequested = r));
  const consumer = (async () => {
    for await (const batch of session) {
      for (const e of batch) {
        outputs.telemetry.event(e.kind, e.count);
        if (e.guarded) {
          guard.onEvent(e);
          continue;
        }
        const a = judge(e, judged, mode, label);
        if (a) emit(a);
        else for (const r of judgeByRules(e, run.rules, mode, label)) emit(r);
      }
    }
  })();
  // The tracer failing mid-run (its links are then gone) must not leave the target running as if
  // held: a command the agent started is killed, any other target ends the agent (exit 3, so a
  // supervisor restarts it; with --pin the pinned programs go on enforcing meanwhile). The error
  // itself surfaces where the consumer is awaited, after clean-up.
  consumer.catch((err: unknown) => {
    log(`ltrack agent: the tracer failed (${err instanceof Error ? err.message : String(err)}); nothing is held any more`);
    if (held) held.child.kill('SIGKILL');
    else stopRequested?.();
  });

  // SIGHUP: verify everything again and swap the maps (new entries in before stale ones out). A
  // reload that fails verification changes nothing: the allowlist in force stays.
  let reloading = Promise.resolve();
  const onHup = () => {
    reloading = reloading.then(async () => {
      try {
        const next: LoadedAllowlists = await loadAllowlists(run.files);
        const nextCompiled = await compileAllowlist(next.behaviours, root);
        if (mode === 'enforce') session.replaceAllowlist(withLauncher(nextCompiled.kernel));
        compiled = nextCompiled;
        // Landlock rules cannot be widened in a running process: a reload widens the maps only
        judged = { ...judged, behaviours: next.behaviours, libraryIds: nextCompiled.libraryIds };
        outputs.telemetry.manifests(next.expiries);
        describeProblems(compiled, log);
        log('ltrack agent: SIGHUP: allowlists re-verified and reloaded');
      } catch (err) {
        const reason = err instanceof LtrackError ? `${err.file ? `${err.file}: ` : ''}${err.message}` : String(err);
        log(`ltrack agent: SIGHUP: reload refused, the allowlists in force stay: ${reason}`);
      }
    });
  };

  const onStop = (sig: NodeJS.Signals) => {
    // a command the agent started is never left running unconfined: it gets the signal, and the
    // agent detaches once it has exited
    if (held) held.child.kill(sig);
    else stopRequested?.();
  };
  process.on('SIGHUP', onHup);
  process.on('SIGINT', onStop);
  process.on('SIGTERM', onStop);
  const dropTimer = setInterval(() => {
    const s = session.stats();
    outputs.telemetry.drops(s.drops, 0);
  }, 1000);
  held?.go();
  const pods = 'pods' in run.target ? followPods(run.target.pods, run.target.everyMs, session, log) : undefined;

  let exitCode = 0;
  try {
    if (held) exitCode = await held.exited;
    else if ('pid' in target && target.pid !== undefined) {
      const pid = target.pid;
      await Promise.race([
        stopped,
        new Promise<void>((r) => {
          const t = setInterval(() => {
            if (!alive(pid)) {
              clearInterval(t);
              r();
            }
          }, 500);
          void stopped.then(() => clearInterval(t));
        }),
      ]);
    } else await stopped;
  } finally {
    pods?.stop();
    clearInterval(dropTimer);
    process.off('SIGHUP', onHup);
    process.off('SIGINT', onStop);
    process.off('SIGTERM', onStop);
    await reloading;
  }
  await guard.stop();
  health.enforcing = false;
  const stats = await session.stop();
  await consumer;
  outputs.telemetry.drops(stats.drops, 0);
  log(`ltrack agent: stopped: ${stats.events} event(s), ${actions} action(s)${stats.drops > 0 ? `, ${stats.drops} event(s) dropped by the ring buffer (the kernel kept enforcing)` : ''}`);
  const pinned = stats.tiers.find((t) => t.startsWith('pinned:'));
  if (pinned) log(`ltrack agent: the programs stay ${pinned} and keep enforcing; an agent started with the same --pin adopts them, removing the folder detaches them`);
  return exitCode;
}
