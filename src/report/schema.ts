import type { Finding } from '../core/finding.js';
import type { Severity } from '../core/severity.js';
import type { Phase } from '../core/phase.js';

/**
 * The JSON report (DESIGN.md "JSON report"), versioned. This module is the one definition of
 * its shape; the JSON Schema beside it (report.schema.json, built from the same module) is
 * what tests validate real reports against.
 */
export const REPORT_VERSION = '1.0.0';

export type VerdictStatus = 'pass' | 'block' | 'incomplete';

export interface TargetFile {
  path: string;
  sha256: string;
  size: number;
  /** Sniffed by content, e.g. "pickle", "torch-zip", "npy", "safetensors". */
  format: string;
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
}

export interface RunStats {
  events: number;
  drops: number;
  /** Which kernel tiers ran (observation and enforcement), e.g. ["tracepoints", "cgroup-sock"]. */
  tracerTiers: string[];
  sandbox: 'docker' | 'bwrap' | 'none';
  durationsMs: Record<string, number>;
}

export interface Report {
  version: typeof REPORT_VERSION;
  tool: { name: 'ltrack'; version: string };
  startedAt: string;
  targets: TargetFile[];
  verdict: Verdict;
  findings: Finding[];
  observed: ObservedBehavior;
  stats: RunStats;
  /** sha256 over the rule files used, so a manifest can pin the rule set. */
  rulesetDigest: string;
}
