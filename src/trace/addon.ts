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
  /** Drop counters, [cpu * KIND_COUNT + kind]. */
  drops(h: TracerHandle): BigUint64Array;
  skipped(h: TracerHandle): string;
  /** Records of aggregated opens whose repeats are still pending; removes them. */
  flushAgg(h: TracerHandle): Buffer;
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

/** Turns an addon exception into an LtrackError with the code the addon chose. */
export function addonError(err: unknown, what: string): LtrackError {
  if (err instanceof LtrackError) return err;
  const code = (err as { ltrackCode?: unknown }).ltrackCode;
  const message = err instanceof Error ? err.message : String(err);
  return new LtrackError(code === 'tracer_unavailable' ? 'tracer_unavailable' : 'internal', `${what}: ${message}`, { cause: err });
}
