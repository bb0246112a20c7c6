import { stat } from 'node:fs/promises';
import type { EnforcementMode } from '../core/kernel-filter.js';
import { LtrackError, wrapError } from '../core/errors.js';
import { startTrace, type TraceSession, type TraceTarget } from '../trace/index.js';
import { loadAllowlists, type AllowlistFiles, type LoadedAllowlists } from './allowlists.js';
import { compileAllowlist, type CompiledAllowlist } from './behaviour.js';
import { ModelGuard } from './integrity.js';
import { judge, type Judged } from './judge.js';
import { launchHeld, type HeldCommand } from './launch.js';
import type { AgentOutputs } from './outputs.js';
import { ENFORCED_KINDS, type AgentAction, type EnforcedKind } from './types.js';

/** What `ltrack agent` holds to its allowlists: a cgroup (and processes started in it later), a process tree, or a command it starts. */
export type AgentTarget = { cgroup: string } | { pid: number } | { command: string[] };

export interface AgentRun {
  files: AllowlistFiles;
  mode: EnforcementMode;
  target: AgentTarget;
  /** Where a model file that changed after verification is moved (enforce); absent: left in place, its openers killed. */
  quarantine?: string;
  outputs: AgentOutputs;
  /** One line for the operator (stderr). */
  log: (line: string) => void;
}

/**
 * The tier each kind is enforced in on this kernel. BPF LSM does not load on kernels of this kind
 * (refused with EPERM), so exec and executable mappings are killed by bpf_send_signal at the
 * tracepoint, before the new code's first instruction, and opens are reported: a tracepoint cannot
 * refuse one. A model file not verified is guarded the same way: the opener is killed on its way
 * back from open(2), before it can read.
 */
export function enforcementTiers(mode: EnforcementMode, guarded: boolean): Record<EnforcedKind, string> {
  if (mode === 'observe') return Object.fromEntries(ENFORCED_KINDS.map((k) => [k, 'observe'])) as Record<EnforcedKind, string>;
  return {
    exec: 'kill:bpf_send_signal',
    mmap_exec: 'kill:bpf_send_signal',
    network: 'prevent:cgroup-sock',
    file_open: 'alert',
    integrity: guarded ? 'kill:bpf_send_signal(open of an unverified model file)+quarantine' : 'none',
  };
}

/** A cgroup v2 folder as the kernel's cgroup id (its inode in the v2 tree). */
async function cgroupId(path: string): Promise<number> {
  const st = await stat(path).catch((err: unknown) => Promise.reject(wrapError(err, 'usage', 'cannot read the cgroup', path)));
  if (!st.isDirectory()) throw new LtrackError('usage', 'not a cgroup folder', { file: path });
  return st.ino;
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
  const { mode, outputs, log } = run;
  const loaded = await loadAllowlists(run.files);
  let compiled = await compileAllowlist(loaded.behaviours);
  describeProblems(compiled, log);
  let judged: Judged = { behaviours: loaded.behaviours, libraryIds: compiled.libraryIds };
  const label = [...run.files.manifests.map((m) => m.path), ...run.files.baselines].join(',');

  let target: TraceTarget;
  let held: HeldCommand | undefined;
  if ('cgroup' in run.target) target = { cgroupId: await cgroupId(run.target.cgroup) };
  else if ('pid' in run.target) {
    if (!alive(run.target.pid)) throw new LtrackError('usage', `no process ${run.target.pid}`);
    target = { pid: run.target.pid };
  } else {
    held = launchHeld(run.target.command);
    target = { pid: held.pid };
  }

  let session: TraceSession;
  try {
    session = await startTrace(target, { mode, allowlist: compiled.kernel, guard: loaded.models.length > 0 });
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
    await guard.start(loaded.models);
  } catch (err) {
    held?.child.kill('SIGKILL');
    await session.stop().catch(() => undefined);
    throw err;
  }
  const tiers = enforcementTiers(mode, loaded.models.length > 0);
  outputs.telemetry.tiers(tiers);
  outputs.telemetry.manifests(loaded.expiries);
  log(
    `ltrack agent: ${mode === 'enforce' ? 'enforcing' : 'observing (no action is taken)'} ${run.files.manifests.length} manifest(s) and ${run.files.baselines.length} baseline(s) on ` +
      `${'cgroup' in run.target ? `cgroup ${run.target.cgroup}` : held && 'command' in run.target ? `pid ${held.pid} (${run.target.command[0] ?? ''})` : `pid ${target.pid}`}; ` +
      Object.entries(tiers)
        .map(([k, t]) => `${k} ${t}`)
        .join(', '),
  );

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
      }
    }
  })();

  // SIGHUP: verify everything again and swap the maps (new entries in before stale ones out). A
  // reload that fails verification changes nothing: the allowlist in force stays.
  let reloading = Promise.resolve();
  const onHup = () => {
    reloading = reloading.then(async () => {
      try {
        const next: LoadedAllowlists = await loadAllowlists(run.files);
        const nextCompiled = await compileAllowlist(next.behaviours);
        if (mode === 'enforce') session.replaceAllowlist(nextCompiled.kernel);
        compiled = nextCompiled;
        judged = { behaviours: next.behaviours, libraryIds: nextCompiled.libraryIds };
        outputs.telemetry.manifests(next.expiries);
        describeProblems(compiled, log);
        log('ltrack agent: SIGHUP: allowlists re-verified and reloaded');
      } catch (err) {
        const reason = err instanceof LtrackError ? `${err.file ? `${err.file}: ` : ''}${err.message}` : String(err);
        log(`ltrack agent: SIGHUP: reload refused, the allowlists in force stay: ${reason}`);
      }
    });
  };

  let stopRequested: (() => void) | undefined;
  const stopped = new Promise<void>((r) => (stopRequested = r));
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
    clearInterval(dropTimer);
    process.off('SIGHUP', onHup);
    process.off('SIGINT', onStop);
    process.off('SIGTERM', onStop);
    await reloading;
  }
  await guard.stop();
  const stats = await session.stop();
  await consumer;
  outputs.telemetry.drops(stats.drops, 0);
  log(`ltrack agent: stopped: ${stats.events} event(s), ${actions} action(s)${stats.drops > 0 ? `, ${stats.drops} event(s) dropped by the ring buffer (the kernel kept enforcing)` : ''}`);
  return exitCode;
}
