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
  /** Sniffed by content, e.g. "pickle", "torch-zip", "npy", "safetensors", "text". */
  format: string;
  /** Why the content was not analysed (not recognised, over a limit); absent when it was. */
  unanalysed?: string;
  /** A symlink inside the candidate: the file it resolves to, relative to the candidate root (the
   * digest is of that file's bytes, loaded under this path's name). */
  linkTo?: string;
}

/** An entry of a candidate that was not staged, hashed or loaded (a symlink not followed), and why. */
export interface SkippedEntry {
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

export interface RunStats {
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

const str = { type: 'string' } as const;
const num = { type: 'number' } as const;
const strs = { type: 'array', items: str } as const;
const severity = { enum: ['info', 'low', 'medium', 'high', 'critical'] } as const;
const phase = { enum: ['static', 'startup', 'install', 'import', 'load', 'probe'] } as const;

/** JSON Schema (draft 2020-12) of the report; test/report validates real reports against it. */
export const REPORT_JSON_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://ltrack.dev/schemas/report-1.json',
  type: 'object',
  additionalProperties: false,
  required: ['version', 'tool', 'startedAt', 'targets', 'verdict', 'findings', 'observed', 'stats', 'rulesetDigest'],
  properties: {
    version: { const: REPORT_VERSION },
    tool: { type: 'object', required: ['name', 'version'], additionalProperties: false, properties: { name: { const: 'ltrack' }, version: str } },
    startedAt: { type: 'string', format: 'date-time' },
    targets: {
      type: 'array',
      items: { type: 'object', additionalProperties: false, required: ['path', 'sha256', 'size', 'format'], properties: { path: str, sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' }, size: { type: 'integer', minimum: 0 }, format: str, unanalysed: str, linkTo: str } },
    },
    skipped: {
      type: 'array',
      items: { type: 'object', additionalProperties: false, required: ['path', 'reason', 'effect'], properties: { path: str, reason: str, effect: { enum: ['finding', 'incomplete', 'none'] } } },
    },
    verdict: {
      type: 'object',
      additionalProperties: false,
      required: ['status', 'severity', 'score', 'failOn', 'reasons'],
      properties: { status: { enum: ['pass', 'block', 'incomplete'] }, severity, score: { type: 'number', minimum: 0, maximum: 10 }, failOn: severity, reasons: strs },
    },
    findings: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['ruleId', 'title', 'severity', 'cvss', 'mitre', 'action', 'source', 'message', 'evidence', 'phase'],
        properties: {
          ruleId: { type: 'string', pattern: '^LT-[A-Z]+-[0-9]{3}$' },
          title: str,
          severity,
          cvss: { type: 'object', additionalProperties: false, required: ['vector', 'base', 'score', 'weighting'], properties: { vector: { type: 'string', pattern: '^CVSS:4\\.0/' }, base: num, score: num, weighting: strs } },
          mitre: strs,
          action: { enum: ['alert', 'block', 'kill', 'quarantine'] },
          source: { enum: ['static', 'dynamic'] },
          message: str,
          evidence: { type: 'object' },
          phase,
          location: {
            type: 'object',
            additionalProperties: false,
            required: ['file'],
            properties: { file: str, entry: strs, byteOffset: { type: 'integer', minimum: 0 }, byteLength: { type: 'integer', minimum: 0 } },
          },
        },
      },
    },
    observed: {
      type: 'object',
      additionalProperties: false,
      required: ['filesRead', 'filesWritten', 'librariesMapped', 'exec', 'network', 'packages'],
      properties: {
        filesRead: strs,
        filesWritten: strs,
        librariesMapped: { type: 'array', items: { type: 'object', required: ['path'], additionalProperties: false, properties: { path: str, sha256: str } } },
        exec: { type: 'array', items: { type: 'object', required: ['path', 'argv'], additionalProperties: false, properties: { path: str, argv: strs, phase } } },
        network: {
          type: 'array',
          items: { type: 'object', required: ['kind', 'family', 'addr', 'port', 'denied'], additionalProperties: false, properties: { kind: str, family: str, addr: str, port: num, phase, denied: { type: 'boolean' } } },
        },
        packages: { type: 'array', items: { type: 'object', required: ['name', 'version'], additionalProperties: false, properties: { name: str, version: str, sha256: str } } },
        sinkhole: {
          type: 'array',
          items: {
            type: 'object',
            required: ['proto', 'size', 'preview'],
            additionalProperties: false,
            properties: { proto: { enum: ['tcp', 'dns'] }, dst: str, port: num, name: str, size: { type: 'integer', minimum: 0 }, preview: str, phase },
          },
        },
      },
    },
    stats: {
      type: 'object',
      additionalProperties: false,
      required: ['events', 'drops', 'tracerTiers', 'sandbox', 'durationsMs'],
      properties: {
        events: { type: 'integer' },
        drops: { type: 'integer' },
        tracerTiers: strs,
        sandbox: { enum: ['docker', 'bwrap', 'none'] },
        durationsMs: { type: 'object', additionalProperties: num },
        loaders: {
          type: 'object',
          additionalProperties: false,
          required: ['image', 'fromDeps'],
          properties: {
            image: str,
            python: str,
            torch: str,
            numpy: str,
            fromDeps: { type: 'array', items: { type: 'object', additionalProperties: false, required: ['name', 'version', 'loaded'], properties: { name: str, version: str, loaded: { type: 'boolean' } } } },
          },
        },
      },
    },
    rulesetDigest: { type: 'string', pattern: '^[0-9a-f]{64}$' },
    globalsPolicy: { type: 'array', items: { type: 'object', additionalProperties: false, required: ['file', 'sha256'], properties: { file: str, sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' } } } },
  },
} as const;
