import { chmod, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import type { Phase } from '../core/phase.js';
import { SANDBOX_LAYOUT } from '../core/sandbox-layout.js';
import { resolveLimits, type SandboxLimits } from './limits.js';
import { DECOY_ENV, type DecoyIdentity } from '../core/decoys.js';
import { writeDecoys, type PlantedDecoy } from './decoys.js';
import { ownerAlive } from '../core/owner.js';
import { lockKind } from '../locks/kind.js';
import type { SinkRecord } from './sinkhole.js';
import { followChannel, type PhaseEdge, type PhaseReport } from './channel.js';
import type { ForgedMarker, Lingerer } from '../vet/phases.js';

export type Driver = 'docker' | 'bwrap';

export interface RunPlan {
  driver: Driver | 'auto';
  /** format = sniffed by the static engine: "pickle", "torch-zip", "npy", "joblib", … */
  models: { hostPath: string; format: string }[];
  deps?: { hostPath: string };
  wheelhouse?: string;
  network: 'none' | 'sinkhole';
  timeoutSec: number;
  limits?: Partial<SandboxLimits>;
}

export interface SandboxHooks {
  /** Awaited while the sandbox's first process is held before its first instruction of ours: attach the tracer here. */
  onReady?(target: { pid: number; cgroupId?: number }): Promise<void>;
  /** Told as harness phases start and end, while the run goes on (progress; the result has them all). */
  onPhase?(edge: PhaseEdge): void;
}

export interface PhaseRecord {
  phase: Phase;
  startNs: number;
  endNs: number;
  ok: boolean;
  error?: string;
  detail?: Record<string, unknown>;
}

export interface SandboxResult {
  driver: Driver;
  /**
   * The harness's phases with the kernel's times (src/vet/phases.ts derives them from the harness's
   * marker syscalls): filled by a traced run (src/vet/dynamic.ts); empty from a driver alone, which
   * sees no kernel events.
   */
  phases: PhaseRecord[];
  /** The harness's own account of each phase from the channel file: untrusted information (see readChannel). */
  reports: PhaseReport[];
  /**
   * How often the sandbox's pids cgroup refused a fork or thread at its limit (pids.events `max`),
   * read by the host; undefined when the counter could not be read.
   */
  pidsLimitHits?: number;
  /**
   * The sandbox's cgroup v2 id, read by the host; undefined when it could not be read (then neither
   * the tracer nor the socket hooks could follow the run by its cgroup).
   */
  cgroupId?: number;
  /** Filled by a traced run from kernel events: phase markers refused as forged (src/vet/phases.ts). */
  forgedMarkers?: ForgedMarker[];
  /** Filled by a traced run from kernel events: processes of the tree still alive when the harness finished. */
  lingering?: Lingerer[];
  exitCode: number | null;
  oomKilled: boolean;
  timedOut: boolean;
  outputTruncated: boolean;
  stdout: string;
  stderr: string;
  packages: { name: string; version: string; sha256?: string }[];
  /** --network sinkhole: what the sink recorded (connections with their first bytes, DNS queries). */
  sinkhole?: SinkRecord[];
  /** The decoy secrets planted in this run, by identity: any open of one of these inodes is a read of it. */
  decoys: DecoyIdentity[];
}

/** Where the host-side pieces of one run live inside the sandbox. */
export const MOUNTS = Object.freeze({
  harness: '/ltrack/harness',
  out: '/ltrack/out',
  /**
   * Never exists: the harness opens `<markers>/<phase>` at each phase boundary, and the tracer's
   * failed-open event (kernel time, caller's tgid) is what decides phases (src/vet/phases.ts).
   */
  markers: '/ltrack/phase',
});
export const CHANNEL_FILE = 'channel.jsonl';

/** Follows a run's phase channel for `hooks.onPhase`, when there is one to tell. */
export function followPhases(outDir: string, hooks: SandboxHooks): { stop(): Promise<void> } | undefined {
  const onPhase = hooks.onPhase?.bind(hooks);
  return onPhase ? followChannel(join(outDir, CHANNEL_FILE), onPhase) : undefined;
}

/** The host folder of one run: the channel the harness writes, the decoy files. Removed after the run. */
export interface RunDir {
  root: string;
  out: string;
  /** each bind-mounted read-only at its sandbox path by the driver */
  decoys: PlantedDecoy[];
  cleanup(): Promise<void>;
}

/** A run folder's name carries its owner's pid, so a crashed run's folder can be told from a live one's. */
const RUN_DIR_PREFIX = 'ltrack-run-';
const RUN_DIR_NAME = /^ltrack-run-(\d+)-[A-Za-z0-9]{6}$/;

export async function makeRunDir(): Promise<RunDir> {
  const root = await mkdtemp(join(tmpdir(), `${RUN_DIR_PREFIX}${process.pid}-`));
  const out = join(root, 'out');
  await mkdir(out);
  await chmod(root, 0o755);
  // The harness runs as an unprivileged uid and must append to the channel file here.
  await chmod(out, 0o777);
  const cleanup = () => rm(root, { recursive: true, force: true });
  const decoys = await writeDecoys(join(root, 'decoys')).catch(async (err: unknown) => {
    await cleanup();
    throw err;
  });
  return { root, out, decoys, cleanup };
}

/** Run folders left by ltrack processes that no longer exist (SIGKILLed before their clean-up). */
export async function sweepRunDirs(): Promise<string[]> {
  const swept: string[] = [];
  for (const name of await readdir(tmpdir()).catch(() => [] as string[])) {
    const m = RUN_DIR_NAME.exec(name);
    if (!m || ownerAlive(Number(m[1]))) continue;
    await rm(join(tmpdir(), name), { recursive: true, force: true }).catch(() => undefined);
    swept.push(name);
  }
  return swept;
}

/** The identities a result reports (the host paths stay on the host). */
export function decoyIdentities(run: RunDir): DecoyIdentity[] {
  return run.decoys.map(({ path, inode, dev }) => ({ path, inode, dev }));
}

/** Each model at /candidate/<name>, read-only; equal base names get an index so none shadows another. */
export function candidateMounts(models: RunPlan['models']): { hostPath: string; path: string; format: string }[] {
  const seen = new Set<string>();
  return models.map((m, i) => {
    let name = basename(m.hostPath);
    if (seen.has(name)) name = `${i}-${name}`;
    seen.add(name);
    return { hostPath: resolve(m.hostPath), path: `${SANDBOX_LAYOUT.candidate}/${name}`, format: m.format };
  });
}

/** Where the lock file is mounted in the sandbox: the harness is told this path, the drivers mount it there. */
export function depsMount(plan: RunPlan): { hostPath: string; path: string } | undefined {
  return plan.deps ? { hostPath: resolve(plan.deps.hostPath), path: `${SANDBOX_LAYOUT.deps}/${basename(plan.deps.hostPath)}` } : undefined;
}

/** The whole environment of the sandbox's first process, the same from both drivers. */
export function sandboxEnv(harness: Record<string, unknown>): Record<string, string> {
  return {
    HOME: SANDBOX_LAYOUT.home,
    PATH: '/usr/local/bin:/usr/bin:/bin',
    PYTHONDONTWRITEBYTECODE: '1',
    LANG: 'C.UTF-8',
    LTRACK_PLAN: JSON.stringify(harness),
    ...DECOY_ENV,
  };
}

/** The JSON the harness reads from LTRACK_PLAN (sandbox/harness.py). */
export function harnessPlan(plan: RunPlan, run: RunDir, go: 'stdin' | 'block'): Record<string, unknown> {
  const deps = depsMount(plan);
  return {
    go,
    channel: `${MOUNTS.out}/${CHANNEL_FILE}`,
    markers: MOUNTS.markers,
    lingerSec: resolveLimits(plan.limits).lingerMs / 1000,
    prefix: SANDBOX_LAYOUT.installPrefix,
    wheelhouse: plan.wheelhouse ? SANDBOX_LAYOUT.wheelhouse : null,
    deps: deps ? { kind: lockKind(deps.hostPath), path: deps.path } : null,
    models: candidateMounts(plan.models).map(({ path, format }) => ({ path, format })),
  };
}
