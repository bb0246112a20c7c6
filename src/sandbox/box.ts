import type { CgroupLayout } from '../core/cgroup-layout.js';
import type { SandboxLimits } from './limits.js';
import type { CappedSink } from './output.js';
import type { RunDir, RunPlan } from './plan.js';
import type { Sink } from './sinkhole.js';

/** What a driver is given for one run: everything the run sequence (src/sandbox/run.ts) decided. */
export interface BoxContext {
  plan: RunPlan;
  run: RunDir;
  limits: SandboxLimits;
  layout: CgroupLayout;
  /** the whole environment of the sandbox's first process */
  env: Record<string, string>;
  stdout: CappedSink;
  stderr: CappedSink;
}

/** How the run ended, as the host measured it. */
export interface BoxExit {
  exitCode: number | null;
  oomKilled: boolean;
  pidsLimitHits: number | undefined;
}

/**
 * One sandbox of one driver. The run sequence calls prepare, start, then go, wait (or kill, from
 * the time limit or an abort, at any point after prepare began) and always release — whatever
 * point the others reached, so each resource is freed by the release of the box that acquired it.
 */
export interface Box {
  /** Checks and gathers what start needs (image, filters, staged inputs); creates no process. */
  prepare(): Promise<void>;
  /**
   * Creates the sandbox with its first process held before anything of the harness runs, and the
   * network sink when the plan asks for one. `cgroupId` is undefined when it could not be read.
   */
  start(): Promise<{ pid: number; cgroupId: number | undefined }>;
  /** Lets the held process go. */
  go(): void;
  /** Kills every process of the run; safe at any point, more than once. */
  kill(): Promise<void>;
  /** Resolves once the sandbox's first process has exited and its output has ended. */
  wait(): Promise<BoxExit>;
  /** The network sink, once started: the run sequence stops it and keeps what it recorded. */
  readonly sink: Sink | undefined;
  /** Frees everything prepare and start acquired (containers, cgroups, descriptors, the sink). */
  release(): Promise<void>;
}
