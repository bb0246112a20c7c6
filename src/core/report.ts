import type { Finding } from './finding.js';
import type { Format } from './formats.js';
import type { Phase } from './phase.js';
import type { Severity } from './severity.js';

/**
 * The JSON report (DESIGN.md "JSON report"), versioned: what a vet produces and the manifest,
 * the CLI and the writers read. This module is the one definition of its shape; its JSON Schema
 * (src/report/schema.ts) is what real reports are validated against before they are written.
 */
export const REPORT_VERSION = '1.0.0';

export type VerdictStatus = 'pass' | 'block' | 'incomplete';

export interface TargetFile {
  path: string;
  sha256: string;
  size: number;
  /** Named by content (src/core/formats.ts); the sandbox loads it with the loader of that name. */
  format: Format;
  /** Why the content was not analysed (not recognised, over a limit); absent when it was. */
  unanalysed?: string;
  /** A symlink inside the candidate: the file it resolves to, relative to the candidate root (the
   * digest is of that file's bytes, loaded under this path's name). */
  linkTo?: string;
}

/** An entry of a candidate that was not staged, hashed or loaded (a symlink not followed), and why. */
interface SkippedEntry {
  path: string;
  reason: string;
  /** What it does to the verdict: a finding, incomplete, or nothing. */
  effect: 'finding' | 'incomplete' | 'none';
}

export interface Verdict {
  status: VerdictStatus;
  /** Highest finding severity, or "info" when there is none. */
  severity: Severity;
  /** Highest weighted CVSS score among findings, 0 when there is none. */
  score: number;
  failOn: Severity;
  /** Why the verdict is what it is, one line each (e.g. "2 events dropped", "tracer absent"). */
  reasons: string[];
}

export interface ObservedBehavior {
  filesRead: string[];
  filesWritten: string[];
  librariesMapped: { path: string; sha256?: string }[];
  exec: { path: string; argv: string[]; phase?: Phase }[];
  network: { kind: 'connect' | 'bind' | 'sendmsg' | 'sendfile'; family: string; addr: string; port: number; phase?: Phase; denied: boolean }[];
  packages: { name: string; version: string; sha256?: string }[];
  /** --network sinkhole: each connection (original destination) and DNS query the sink caught,
   * with a printable preview of the first bytes. Absent when the run had no sinkhole. */
  sinkhole?: { proto: 'tcp' | 'dns'; dst?: string; port?: number; name?: string; size: number; preview: string; phase?: Phase }[];
}

interface RunStats {
  events: number;
  drops: number;
  /** Which kernel tiers ran (observation and enforcement), e.g. ["tracepoints", "cgroup-sock"]. */
  tracerTiers: string[];
  sandbox: 'docker' | 'bwrap' | 'none';
  durationsMs: Record<string, number>;
  /**
   * The loader stack the sandbox ran: the image and its Python, and the torch/numpy that loaded the
   * model (the image's, or the lock's when the kernel saw the lock's copy imported); `fromDeps` lists
   * the loader libraries --deps installed, `loaded` when the kernel saw that copy imported
   * (src/vet/loader-stack.ts).
   */
  loaders?: { image: string; python?: string; torch?: string; numpy?: string; fromDeps: { name: string; version: string; loaded: boolean }[] };
}

export interface Report {
  version: typeof REPORT_VERSION;
  tool: { name: 'ltrack'; version: string };
  startedAt: string;
  targets: TargetFile[];
  /** Entries of the candidates that are not targets, each with why: every file is accounted for. */
  skipped?: SkippedEntry[];
  verdict: Verdict;
  findings: Finding[];
  observed: ObservedBehavior;
  stats: RunStats;
  /** sha256 over the rule files used and the pickle globals policy files in force, so a manifest can pin the rule set. */
  rulesetDigest: string;
  /** The pickle globals policy files in force: the default table and a user's --allow-globals file, with their sha256. */
  globalsPolicy?: { file: string; sha256: string }[];
}
