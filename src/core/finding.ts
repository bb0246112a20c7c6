import type { Phase } from './phase.js';
import type { Severity } from './severity.js';

/** Where a finding points: a file, optionally a zip member and a byte range (pickle opcodes). */
export interface Location {
  file: string;
  /** Member inside a container (zip entry, tar member, npz array, nested pickle), outermost first. */
  entry?: string[];
  byteOffset?: number;
  byteLength?: number;
}

/**
 * What an analysis or a rule match produces before scoring. `ruleId` names a rule in rules/*.toml
 * (e.g. LT-PKL-001); the rule supplies title, severity, CVSS vector, MITRE ids and action.
 */
export interface Detection {
  ruleId: string;
  source: 'static' | 'dynamic';
  /** One sentence about this instance, e.g. "os.system('/bin/true') is called at offset 52". */
  message: string;
  /** Machine-readable facts (callable, args, path, addr, port, pid...). Strings come from the model: escape on output. */
  evidence: Record<string, unknown>;
  location?: Location;
  phase: Phase;
}

interface Cvss {
  vector: string;
  /** CVSS v4.0 base score of the vector. */
  base: number;
  /** After context weighting (src/scoring), 0..10. */
  score: number;
  /** Human-readable reasons for each weighting step. */
  weighting: string[];
}

export type AgentAction = 'alert' | 'block' | 'kill' | 'quarantine';

export interface Finding extends Detection {
  title: string;
  severity: Severity;
  cvss: Cvss;
  mitre: string[];
  action: AgentAction;
}
