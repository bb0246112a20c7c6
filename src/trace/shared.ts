import type { TraceEvent } from '../core/event.js';
import { LtrackError, wrapError } from '../core/errors.js';
import { startTrace, type TraceOptions, type TraceSession, type TraceStats } from './session.js';

/**
 * One tracer for many sandboxes running side by side (`ltrack vet --each`, `ltrack demo`): the
 * tracer is loaded and attached once, each sandbox takes a lease on its cgroup, and every event is
 * handed to the lease of the cgroup the kernel says the process was in — never by pid or by what
 * the process says of itself.
 *
 * Attribution rules (fail closed):
 * - An event goes to the lease whose cgroup id equals the event's cgroup. A sandbox without a
 *   cgroup id of its own cannot be attributed and cannot take a lease.
 * - Ring-buffer drops carry no cgroup: a drop counted while a lease was open may have been that
 *   candidate's event, so every lease open at the time reports it (and its vet is incomplete).
 * - An event of a traced process whose cgroup belongs to no open lease could have been anyone's:
 *   every lease open at the time reports it as unattributed (and its vet is incomplete).
 * A lease's window runs from lease() to the end of end(); end() waits until the ring has been
 * drained past the moment it was called, so call it once the candidate's processes have all exited.
 */
export interface LeaseStats {
  events: number;
  /** kernel events dropped while this lease was open (anyone's: drops carry no cgroup) */
  drops: number;
  /** children the kernel could not add to the traced tree while this lease was open (anyone's, like drops) */
  lostForks: number;
  /** events of no open lease's cgroup seen while this lease was open */
  unattributed: number;
  tiers: string[];
}

export interface TraceLease {
  readonly cgroupId: number;
  /** this candidate's events, in ring order */
  readonly events: TraceEvent[];
  /** Waits for the ring to drain past now, stops following the cgroup, returns the window's counts. Idempotent. */
  end(): Promise<LeaseStats>;
}

class Lease implements TraceLease {
  readonly events: TraceEvent[] = [];
  #ended: Promise<LeaseStats> | undefined;

  constructor(
    readonly cgroupId: number,
    private readonly release: (l: Lease) => Promise<LeaseStats>,
    readonly dropsAtStart: number,
    readonly lostForksAtStart: number,
    readonly unattributedAtStart: number,
  ) {}

  end(): Promise<LeaseStats> {
    this.#ended ??= this.release(this);
    return this.#ended;
  }
}

export class SharedTrace {
  readonly #session: TraceSession;
  readonly #leases = new Map<number, Lease>();
  readonly #routing: Promise<void>;
  #unattributed = 0;
  /** what ended the routing: the session's own LtrackError (anything else is wrapped in one) */
  #error: LtrackError | undefined;
  #closed = false;

  private constructor(session: TraceSession) {
    this.#session = session;
    this.#routing = this.#route();
  }

  /** Loads and attaches the tracer, following nothing until a lease is taken. Observe mode only. */
  static async open(options: Omit<TraceOptions, 'mode' | 'allowlist' | 'kernelRules'> = {}): Promise<SharedTrace> {
    return new SharedTrace(await startTrace({}, { detachInBackground: true, ...options, mode: 'observe' }));
  }

  async #route(): Promise<void> {
    try {
      for await (const batch of this.#session) {
        for (const e of batch) {
          const lease = this.#leases.get(e.cgroup);
          if (lease) lease.events.push(e);
          else this.#unattributed++;
        }
      }
    } catch (err) {
      this.#error = wrapError(err, 'tracer_unavailable', 'the shared tracer failed');
    }
  }

  /**
   * Starts following a sandbox: its first process (held before it runs anything) and its cgroup.
   * The lease is in place before the tracer follows the target, so no event of it is unattributed.
   */
  lease(target: { pid: number; cgroupId?: number }): TraceLease {
    if (this.#closed) throw new LtrackError('internal', 'lease on a closed shared trace');
    if (this.#error !== undefined) throw this.#error;
    const { cgroupId } = target;
    if (cgroupId === undefined) {
      throw new LtrackError('tracer_unavailable', 'the sandbox has no cgroup v2 id: its events cannot be told from those of the sandboxes running beside it');
    }
    if (this.#leases.has(cgroupId)) throw new LtrackError('internal', `cgroup ${cgroupId} already has a lease`);
    const now = this.#session.stats();
    const lease = new Lease(cgroupId, (l) => this.#release(l), now.drops, now.lostForks, this.#unattributed);
    this.#leases.set(cgroupId, lease);
    try {
      this.#session.addTarget({ pid: target.pid, cgroupId });
    } catch (err) {
      this.#leases.delete(cgroupId);
      throw err;
    }
    return lease;
  }

  /** Lease.end(): drain past now, then close the window. */
  async #release(lease: Lease): Promise<LeaseStats> {
    if (!this.#closed) await this.#session.sync();
    this.#leases.delete(lease.cgroupId);
    if (!this.#closed) this.#session.removeCgroup(lease.cgroupId);
    if (this.#error !== undefined) throw this.#error;
    const stats = this.#session.stats();
    return {
      events: lease.events.length,
      drops: stats.drops - lease.dropsAtStart,
      lostForks: stats.lostForks - lease.lostForksAtStart,
      unattributed: this.#unattributed - lease.unattributedAtStart,
      tiers: stats.tiers,
    };
  }

  /** Detaches and frees the tracer; leases still open are ended first. */
  async close(): Promise<TraceStats> {
    await Promise.all([...this.#leases.values()].map((l) => l.end().catch(() => undefined)));
    this.#closed = true;
    const stats = await this.#session.stop();
    await this.#routing;
    if (this.#error !== undefined) throw this.#error;
    return stats;
  }
}
