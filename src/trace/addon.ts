import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { LtrackError } from '../core/errors.js';

/** The native addon (native/ltrack.c) as TypeScript sees it. */
export interface TracerHandle {
  readonly __brand: 'ltrack-tracer';
}
export interface OpenOptions {
  ringBytes: number;
  kindMask: number;
  wakeupBytes: number;
  /** 1: attach the cgroup connect/sendmsg hooks (needed for deny); 0: tracepoints only. */
  cgroupHooks: number;
  /** window of open aggregation in ms; 0 sends every open */
  aggregateMs: number;
  /** where the cgroup v2 tree is mounted (the cgroup hooks attach at its root); '' when there is none */
  cgroupRoot: string;
}
export interface Addon {
  open(o: OpenOptions): TracerHandle;
  /** Resolves with one batch (possibly empty) after at most timeoutMs. */
  poll(h: TracerHandle, timeoutMs: number, maxBytes: number): Promise<Buffer>;
  addPid(h: TracerHandle, tgid: number): void;
  addCgroup(h: TracerHandle, id: bigint): void;
  /** Stops following a cgroup added with addCgroup (a no-op for one not in the map). */
  removeCgroup(h: TracerHandle, id: bigint): void;
  /** enforcement bits (enum lt_mode_bits) and the kinds kernel rules filter (1 << kind) */
  setMode(h: TracerHandle, bits: number, ruleKinds: number): void;
  /** key and value must have the map's sizes */
  update(h: TracerHandle, map: string, key: Buffer, value: Buffer): void;
  /** Deletes an entry; one that is not there is not an error. */
  remove(h: TracerHandle, map: string, key: Buffer): void;
  /** Pins the links (and the traced set) under dir/generation after adopting earlier generations there. */
  pin(h: TracerHandle, dir: string, generation: string): { adopted: number; traced: number; cgroups: number };
  /** Drop counters, [cpu * KIND_COUNT + kind]. */
  drops(h: TracerHandle): BigUint64Array;
  /** Children the kernel could not add to the traced tree (lt_lost_forks): subtrees nothing followed. */
  lostForks(h: TracerHandle): number;
  skipped(h: TracerHandle): string;
  /** Records of aggregated opens whose repeats are still pending; removes them. */
  flushAgg(h: TracerHandle): Buffer;
  /** The attached links' descriptors (src/trace/detach.ts). */
  linkFds(h: TracerHandle): number[];
  close(h: TracerHandle): void;
}

// src/trace and dist/trace both sit two levels below the repository root.
export const ADDON_PATH = fileURLToPath(new URL('../../native/build/Release/ltrack.node', import.meta.url));

let cached: Addon | undefined;

/** Loads the addon once; a missing or unloadable build is tracer_unavailable (exit 3). */
export function loadAddon(): Addon {
  if (cached) return cached;
  if (!existsSync(ADDON_PATH)) {
    throw new LtrackError('tracer_unavailable', `tracer addon not built (${ADDON_PATH} missing): run bash scripts/bootstrap`);
  }
  try {
    cached = createRequire(import.meta.url)(ADDON_PATH) as Addon;
  } catch (err) {
    throw new LtrackError('tracer_unavailable', `tracer addon does not load: ${(err as Error).message}`, { cause: err });
  }
  return cached;
}

/** The most of libbpf's log an error message carries: its last lines say why (the verifier's verdict, the refused map). */
const LOG_TAIL_LINES = 12;
const LOG_TAIL_CHARS = 1200;

/**
 * Turns an addon exception into an LtrackError with the code the addon chose. A failed load
 * carries libbpf's log of that load (`libbpfLog`, captured by the addon): its tail joins the
 * message, since the errno alone rarely says which program or map the kernel refused, or why.
 */
export function addonError(err: unknown, what: string): LtrackError {
  if (err instanceof LtrackError) return err;
  const { ltrackCode, libbpfLog } = (typeof err === 'object' && err !== null ? err : {}) as { ltrackCode?: unknown; libbpfLog?: unknown };
  const message = err instanceof Error ? err.message : String(err);
  const log = typeof libbpfLog === 'string' ? logTail(libbpfLog) : '';
  const text = log === '' ? `${what}: ${message}` : `${what}: ${message}; libbpf: ${log}`;
  return new LtrackError(ltrackCode === 'tracer_unavailable' ? 'tracer_unavailable' : 'internal', text, { cause: err });
}

/** The last lines of libbpf's log as one line (the CLI prints errors on one line). */
export function logTail(log: string): string {
  const lines = log
    .split('\n')
    .map((l) => l.replace(/^libbpf: /, '').trim())
    .filter((l) => l !== '');
  const tail = lines.slice(-LOG_TAIL_LINES).join(' | ');
  return tail.length > LOG_TAIL_CHARS ? `...${tail.slice(-LOG_TAIL_CHARS)}` : tail;
}
