import { EVENT_KINDS, type EventKind, type TraceEvent } from '../core/event.js';
import type { EnforcementMode, KernelAllowlist, KernelRuleSet } from '../core/kernel-filter.js';
import { LtrackError } from '../core/errors.js';
import { cgroupLayout } from '../core/cgroup-layout.js';
import { addonError, loadAddon, type Addon, type TracerHandle } from './addon.js';
import { decodeBatch } from './decode.js';
import { allowlistEntries, ENFORCE_BITS, guardEntries, inodeKey, type GuardState, type MapEntry } from './maps.js';
import { MODE } from './wire.js';
import { KIND_COUNT, KIND_VALUE } from './wire.js';
import { compileRules } from './rules.js';
import { handOffDetach } from './detach.js';

export interface TraceTarget {
  /** a tgid: it and its descendants (followed through fork) are traced */
  pid?: number;
  /** a cgroup v2 id (inode of the cgroup's folder in the v2 tree, src/core/cgroup-layout.ts) */
  cgroupId?: number;
}
export interface TraceOptions {
  /** event kinds to report (default all); the process tree is followed regardless */
  kinds?: EventKind[];
  /** ring buffer size in bytes: a power of two, at least 4096 (default 16 MiB) */
  ringBytes?: number;
  kernelRules?: KernelRuleSet;
  mode?: EnforcementMode;
  allowlist?: KernelAllowlist;
  /** Watch model files (setGuard): a write-open of one by any process makes it suspect, and
   * under enforce the traced tree's opens of a suspect or replaced one are killed. */
  guard?: boolean;
  /** Pin the programs in this bpffs folder once the session is configured: they stay attached and
   * enforcing after the process exits, and a later session pinned in the same folder adopts the
   * processes and cgroups they follow, then replaces them. */
  pin?: string;
  /** Window (ms) within which repeated identical opens (same process, flags and file) are folded
   * into one event with a count; 0 sends every open. Default 1000. */
  aggregateMs?: number;
  /**
   * Let stop() return once the ring is drained and every event disabled, leaving the kernel's slow
   * unregister of the tracepoints to a child process (src/trace/detach.ts): for a vet, whose report
   * does not wait on it. Without it (the agent), stop() returns with nothing left attached.
   */
  detachInBackground?: boolean;
}
export interface TraceStats {
  events: number;
  drops: number;
  dropsByCpu: number[];
  dropsByKind: Partial<Record<EventKind, number>>;
  /** Children of traced processes the kernel could not add to the tree: their subtrees went unseen. */
  lostForks: number;
  tiers: string[];
}
export interface TraceSession extends AsyncIterable<TraceEvent[]> {
  addTarget(t: TraceTarget): void;
  /** Stops following a cgroup added as a target (its processes already in the tree stay traced until they exit). */
  removeCgroup(cgroupId: number): void;
  /**
   * Resolves once every event committed to the ring before this call has been yielded to the
   * consumer and the consumer has asked for the next batch (so has handled it): a poll started
   * after the call must have emptied the ring. Needs a consumer iterating the session.
   */
  sync(): Promise<void>;
  stats(): TraceStats;
  /**
   * Replaces the enforcing allow list (a reload): the new entries are inserted first and the stale
   * ones deleted after, so at no moment is the allowed set smaller than the intersection of the
   * old and the new one (never empty while both allow something).
   */
  replaceAllowlist(next: KernelAllowlist): void;
  /**
   * Puts a model file under the integrity watch (needs `guard`), or updates it: `path` must resolve
   * to this (device, inode), whose state the kernel enforces. `previous` is the identity it had,
   * removed from the watch (a file restored under a new inode).
   */
  setGuard(path: string, id: { dev: number; inode: number }, state: GuardState, previous?: { dev: number; inode: number }): void;
  /** Drains what is left in the ring, detaches, frees; the iterator then ends. */
  stop(): Promise<TraceStats>;
}

const DEFAULT_RING = 16 << 20;
/**
 * A batch is handed to JS at this size, or when a poll times out with less. Small batches keep
 * few decoded events alive at once, so the garbage collector's young generation takes them
 * instead of promoting them: draining 2M events measured 2.7 M/s with 1 MiB batches, 1.4 M/s
 * with 4 MiB and 3.5 M/s with 256 KiB.
 */
export const BATCH_BYTES = 256 << 10;
const POLL_MS = 50;
/** Batches decoded but not yet taken by the consumer; beyond this the pump waits and the kernel
 * side keeps running (the ring absorbs, then counts drops). */
const QUEUE_LIMIT = 16;

function checkRing(bytes: number): number {
  if (!Number.isInteger(bytes) || bytes < 4096 || bytes > 2 ** 31 || (bytes & (bytes - 1)) !== 0) {
    throw new LtrackError('usage', `ringBytes must be a power of two between 4096 and 2^31, got ${bytes}`);
  }
  return bytes;
}

function checkAggregate(ms: number): number {
  if (!Number.isInteger(ms) || ms < 0 || ms > 3_600_000) throw new LtrackError('usage', `aggregateMs must be an integer from 0 to 3600000, got ${ms}`);
  return ms;
}

const keyed = (entries: MapEntry[]) => new Map(entries.map((e) => [`${e.map}:${e.key.toString('hex')}`, e]));

function kindMask(kinds: EventKind[] | undefined): number {
  return (kinds ?? [...EVENT_KINDS]).reduce((m, k) => m | (1 << KIND_VALUE[k]), 0);
}

class Session implements TraceSession {
  readonly #addon: Addon;
  readonly #h: TracerHandle;
  readonly #tiers: string[];
  readonly #ruleIds: readonly string[];
  /** the allow-list entries in the maps now, by map and key bytes */
  #allowed: Map<string, MapEntry>;
  readonly #queue: TraceEvent[][] = [];
  #events = 0;
  /** polls started, batches pushed, batches the consumer has finished with: sync() compares them */
  #polls = 0;
  #pushed = 0;
  #consumed = 0;
  #syncs: { afterPoll: number; target?: number; resolve: () => void }[] = [];
  #stopping = false;
  #closed = false;
  #finalDrops: BigUint64Array | undefined;
  #finalLostForks: number | undefined;
  #pump: Promise<void>;
  readonly #detachInBackground: boolean;
  #error: LtrackError | undefined;
  /** wakes the consumer when a batch arrives or the session ends; wakes the pump when the queue drains */
  #wakeConsumer: (() => void) | undefined;
  #wakePump: (() => void) | undefined;

  constructor(addon: Addon, h: TracerHandle, tiers: string[], ruleIds: readonly string[], allowed: MapEntry[], detachInBackground: boolean) {
    this.#addon = addon;
    this.#detachInBackground = detachInBackground;
    this.#allowed = keyed(allowed);
    this.#h = h;
    this.#tiers = tiers;
    this.#ruleIds = ruleIds;
    this.#pump = this.#run();
  }

  async #run(): Promise<void> {
    try {
      while (!this.#stopping) {
        if (this.#queue.length >= QUEUE_LIMIT) {
          await new Promise<void>((r) => (this.#wakePump = r));
          continue;
        }
        const seq = ++this.#polls;
        const buf = await this.#addon.poll(this.#h, POLL_MS, BATCH_BYTES);
        this.#push(buf);
        // A short batch means the ring was empty when the poll ended: everything committed before
        // the poll started is now queued.
        if (buf.length < BATCH_BYTES) this.#drainedThrough(seq);
      }
      // drain: the ring is bounded, so this ends even if nobody consumes
      for (;;) {
        const buf = await this.#addon.poll(this.#h, 0, BATCH_BYTES);
        if (buf.length === 0) break;
        this.#push(buf);
      }
      // repeats of processes still alive, folded in the kernel and not yet reported
      this.#push(this.#addon.flushAgg(this.#h));
    } catch (err) {
      this.#error = addonError(err, 'tracer');
    } finally {
      // the counters are read before close frees the maps; a failed read must not keep the links attached
      try {
        this.#finalDrops = this.#addon.drops(this.#h);
        this.#finalLostForks = this.#addon.lostForks(this.#h);
      } catch (err) {
        this.#error ??= addonError(err, 'tracer counters');
      }
      const handed = this.#detachInBackground ? handOffDetach(this.#addon.linkFds(this.#h)) : undefined;
      this.#addon.close(this.#h);
      handed?.letGo();
      this.#closed = true;
      this.#drainedThrough(Number.MAX_SAFE_INTEGER); // the final drain above took everything
      this.#wakeConsumer?.();
    }
  }

  #drainedThrough(seq: number): void {
    for (const w of this.#syncs) if (w.target === undefined && w.afterPoll < seq) w.target = this.#pushed;
    this.#settleSyncs();
  }

  #settleSyncs(): void {
    this.#syncs = this.#syncs.filter((w) => {
      if (w.target === undefined || this.#consumed < w.target) return true;
      w.resolve();
      return false;
    });
  }

  sync(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#syncs.push({ afterPoll: this.#polls, resolve });
      if (this.#closed) this.#drainedThrough(Number.MAX_SAFE_INTEGER);
    });
  }

  #push(buf: Buffer): void {
    if (buf.length === 0) return;
    const batch = decodeBatch(buf, this.#ruleIds);
    this.#events += batch.length;
    this.#pushed++;
    this.#queue.push(batch);
    this.#wakeConsumer?.();
  }

  addTarget(t: TraceTarget): void {
    if (this.#stopping) throw new LtrackError('internal', 'addTarget after stop');
    try {
      if (t.pid !== undefined) this.#addon.addPid(this.#h, t.pid);
      if (t.cgroupId !== undefined) this.#addon.addCgroup(this.#h, BigInt(t.cgroupId));
    } catch (err) {
      throw addonError(err, 'add trace target');
    }
  }

  removeCgroup(cgroupId: number): void {
    if (this.#closed) return;
    try {
      this.#addon.removeCgroup(this.#h, BigInt(cgroupId));
    } catch (err) {
      throw addonError(err, 'remove trace target');
    }
  }

  replaceAllowlist(next: KernelAllowlist): void {
    if (this.#stopping) throw new LtrackError('internal', 'replaceAllowlist after stop');
    const wanted = keyed(allowlistEntries(next));
    try {
      for (const [id, e] of wanted) if (!this.#allowed.has(id)) this.#addon.update(this.#h, e.map, e.key, e.value);
      for (const [id, e] of this.#allowed) if (!wanted.has(id)) this.#addon.remove(this.#h, e.map, e.key);
    } catch (err) {
      throw addonError(err, 'replace the allow list');
    }
    this.#allowed = wanted;
  }

  setGuard(path: string, id: { dev: number; inode: number }, state: GuardState, previous?: { dev: number; inode: number }): void {
    if (this.#stopping) throw new LtrackError('internal', 'setGuard after stop');
    try {
      // the new identity is in force before the old one goes: no moment where the path is unguarded
      for (const e of guardEntries(path, id, state)) this.#addon.update(this.#h, e.map, e.key, e.value);
      if (previous && (previous.dev !== id.dev || previous.inode !== id.inode)) this.#addon.remove(this.#h, 'lt_guard', inodeKey(previous.dev, previous.inode));
    } catch (err) {
      throw addonError(err, `guard ${path}`);
    }
  }

  stats(): TraceStats {
    const raw = this.#finalDrops ?? (this.#closed ? new BigUint64Array(0) : this.#addon.drops(this.#h));
    const cpus = raw.length / KIND_COUNT;
    const dropsByCpu = Array.from({ length: cpus }, () => 0);
    const dropsByKind: Partial<Record<EventKind, number>> = {};
    let drops = 0;
    raw.forEach((v, i) => {
      if (v === 0n) return;
      const n = Number(v);
      const cpu = Math.floor(i / KIND_COUNT);
      const kind = EVENT_KINDS[i % KIND_COUNT] as EventKind;
      dropsByCpu[cpu] = (dropsByCpu[cpu] ?? 0) + n;
      dropsByKind[kind] = (dropsByKind[kind] ?? 0) + n;
      drops += n;
    });
    const lostForks = this.#finalLostForks ?? (this.#closed ? 0 : this.#addon.lostForks(this.#h));
    return { events: this.#events, drops, dropsByCpu, dropsByKind, lostForks, tiers: [...this.#tiers] };
  }

  async stop(): Promise<TraceStats> {
    this.#stopping = true;
    this.#wakePump?.();
    await this.#pump;
    if (this.#error !== undefined) throw this.#error;
    return this.stats();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<TraceEvent[]> {
    for (;;) {
      const batch = this.#queue.shift();
      if (batch) {
        this.#wakePump?.();
        yield batch;
        this.#consumed++;
        this.#settleSyncs();
        continue;
      }
      if (this.#closed) {
        for (const w of this.#syncs) w.resolve(); // nothing more will come
        this.#syncs = [];
        if (this.#error !== undefined) throw this.#error;
        return;
      }
      await new Promise<void>((r) => (this.#wakeConsumer = r));
      this.#wakeConsumer = undefined;
    }
  }
}

/**
 * Loads and attaches the tracer and starts following `target`. Throws
 * LtrackError('tracer_unavailable') naming what is missing (addon, privileges, kernel support).
 */
export function startTrace(target: TraceTarget, options: TraceOptions = {}): Promise<TraceSession> {
  // a promise whatever fails: callers chain .catch as well as await
  return Promise.resolve().then(() => openSession(target, options));
}

async function openSession(target: TraceTarget, options: TraceOptions): Promise<TraceSession> {
  const ringBytes = checkRing(options.ringBytes ?? DEFAULT_RING);
  const aggregateMs = checkAggregate(options.aggregateMs ?? 1000);
  const enforce = (options.mode ?? 'observe') === 'enforce';
  if (enforce && options.allowlist === undefined) {
    throw new LtrackError('usage', 'enforce mode needs an allow list (an empty one denies everything)');
  }
  const entries = enforce && options.allowlist ? allowlistEntries(options.allowlist) : [];
  const rules = options.kernelRules ? compileRules(options.kernelRules) : undefined;
  const addon = loadAddon();
  let h: TracerHandle;
  try {
    const cgroupRoot = (await cgroupLayout()).v2Root ?? '';
    h = addon.open({ ringBytes, kindMask: kindMask(options.kinds), wakeupBytes: Math.min(2 << 20, ringBytes / 8), cgroupHooks: 1, aggregateMs, cgroupRoot });
  } catch (err) {
    throw addonError(err, 'cannot start the tracer');
  }
  try {
    for (const e of [...entries, ...(rules?.entries ?? [])]) addon.update(h, e.map, e.key, e.value);
    const guard = options.guard ? MODE.guard | (enforce ? MODE.killGuard : 0) : 0;
    addon.setMode(h, (enforce ? ENFORCE_BITS : 0) | guard, rules?.kinds ?? 0);
  } catch (err) {
    addon.close(h);
    throw addonError(err, 'cannot configure the tracer');
  }
  const skipped = addon.skipped(h);
  const tiers = [
    'tp_btf:sched_process',
    'tracepoint:syscalls',
    'cgroup:sock_addr',
    enforce ? 'enforce:kill(exec,mmap)+deny(connect,sendmsg)' : 'observe',
    ...(options.guard ? [enforce ? 'guard:kill(open of unverified model file)' : 'guard:observe'] : []),
    ...(skipped ? skipped.split(',').map((s) => `absent:${s}`) : []),
  ];
  if (rules) tiers.push('kernel-rules');
  const session = new Session(addon, h, tiers, options.kernelRules?.ruleIds ?? [], entries, options.detachInBackground === true);
  try {
    session.addTarget(target);
    if (options.pin !== undefined) {
      const generation = `${Date.now()}-${process.pid}`;
      const p = addon.pin(h, options.pin, generation);
      tiers.push(`pinned:${options.pin}/${generation}${p.adopted > 0 ? ` (adopted ${p.adopted} earlier generation(s): ${p.traced} process(es), ${p.cgroups} cgroup(s))` : ''}`);
    }
  } catch (err) {
    // the caller never gets the session to stop: detach here, or the links stay until exit
    await session.stop().catch(() => undefined);
    throw addonError(err, 'start the trace');
  }
  return session;
}
