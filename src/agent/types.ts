import type { EventKind, TraceEvent } from '../core/event.js';
import type { EnforcementMode } from '../core/kernel-filter.js';

/**
 * The contract between the production agent's parts (`ltrack agent`, issue #16) and what reports
 * on it (events file, CEF / Splunk HEC exporters and Prometheus metrics, issue #19). The agent core
 * produces AgentActions and telemetry; sinks and metrics consume them and never feed back: a slow
 * or failing exporter must not delay or weaken enforcement.
 */

/** What the agent did (enforce) or would have done (observe) about one observation. */
export type ActionKind = 'denied' | 'killed' | 'quarantined' | 'alerted';

/** Which of the two allowlists lacked what was seen: the signed vet manifest (what the model may
 * make happen) or the operator's signed environment baseline (what the serving stack itself does). */
export type AllowlistSource = 'manifest' | 'baseline';

/** The enforcement kinds the agent decides, each in the strongest tier the kernel offers. */
export const ENFORCED_KINDS = ['exec', 'mmap_exec', 'network', 'file_open', 'integrity'] as const;
export type EnforcedKind = (typeof ENFORCED_KINDS)[number];

/** One line of `--events` (JSON), one CEF record, one HEC event, one metric increment. */
export interface AgentAction {
  /** ISO 8601 wall-clock time the agent recorded the action. */
  time: string;
  action: ActionKind;
  /** observe: nothing was done; `action` says what enforce would have done. */
  mode: EnforcementMode;
  /** Rule id: an LT-AGT-* id of rules/agent.toml, or the id of a rules/*.toml rule that matched. */
  ruleId: string;
  /** The manifest file (as given on the command line) the decision was taken against. */
  manifest: string;
  /** Which allowlists lacked it (empty for integrity actions, which are about the model files). */
  missing: AllowlistSource[];
  /** The kernel's observation. Decoy values and secrets are never copied here. */
  event: Pick<TraceEvent, 'kind' | 'pid' | 'tgid' | 'ppid' | 'uid' | 'comm' | 'cgroup'> & Partial<Pick<TraceEvent, 'path' | 'argv' | 'family' | 'addr' | 'port' | 'inode' | 'dev' | 'flags' | 'ret'>>;
  /** One human sentence: what happened and why. */
  reason: string;
  /** Integrity actions: the model file and its expected / found sha256. */
  file?: { path: string; expected: string; found?: string; quarantinedTo?: string };
}

/** Where actions go. `send` never throws and never blocks: a sink queues, bounds, counts drops. */
export interface ActionSink {
  readonly name: string;
  send(action: AgentAction): void;
  /** Flush what is queued (bounded wait) and release sockets/timers. */
  close(): Promise<void>;
}

export type IntegrityState = 'ok' | 'changed' | 'quarantined' | 'missing';

/**
 * What the agent reports about itself while it runs; the metrics module (issue #19) implements it
 * with prom-client, tests may record calls. Every method is cheap and never throws.
 */
export interface AgentTelemetry {
  /** Kernel events received, by kind (count = TraceEvent.count). */
  event(kind: EventKind, count: number): void;
  action(a: AgentAction): void;
  /** Cumulative ring-buffer drops the kernel counted, and events user space could not process. */
  drops(kernel: number, user: number): void;
  /** Bytes waiting in the ring buffer at the last poll, and its size. */
  ringFill(used: number, size: number): void;
  /** The tier each kind is enforced in, e.g. 'prevent:cgroup-sock', 'kill:bpf_send_signal', 'prevent:landlock', 'alert'. */
  tiers(tiers: Record<EnforcedKind, string>): void;
  /** Every manifest in force with its expiry (seconds since the epoch). */
  manifests(m: { path: string; expiresAt: number }[]): void;
  integrity(file: string, state: IntegrityState): void;
  /** An exporter's cumulative figures: waiting in its queue, delivered, failed attempts, dropped. */
  exporter(name: string, s: { queued: number; sent: number; failures: number; dropped: number }): void;
}

/**
 * One allowlist in force, whatever signed it: the vet manifest (predicate.allow, issue #16 core) or
 * an environment baseline (`ltrack agent baseline`). Enforcement allows the union of all of them;
 * an action names the sources that lacked what was seen.
 */
export interface AllowedBehaviour {
  source: AllowlistSource;
  /** The file it was read from, as given on the command line. */
  origin: string;
  /** Programs allowed to exec, by absolute path as the serving host sees it. */
  exec: string[];
  /** Libraries allowed to be mapped executable: a path, and the sha256 its bytes must have (absent:
   * path only, for a library the vet could not hash). */
  libraries: { path: string; sha256?: string }[];
  /** Peers allowed for connect/sendmsg: an address with a prefix length (32/128 for one host) and a port (0: any). */
  network: { addr: string; prefix: number; port: number }[];
  /** Folders (ending in '/') and files that may be opened for reading. */
  reads: string[];
}
