import type { ErrorObject, ValidateFunction } from 'ajv';
// RULE_FILE_SCHEMA compiled ahead of time (src/rules/validator-source.ts): no schema compiler at start-up.
import { validate } from './rule-file.validate.js';
import { EVENT_KINDS, type EventKind } from '../core/event.js';
import { PHASES, type Phase } from '../core/phase.js';
import { SEVERITIES, type Severity } from '../core/severity.js';
import type { AgentAction } from '../core/finding.js';

/**
 * The rule format: the one definition, shared by `ltrack vet`, `ltrack rules lint|test` and the
 * agent. A file is `[[rule]]` tables. Dynamic rules match single kernel events by kind and
 * conditions (all must hold); chain rules match an ordered sequence of such steps inside one
 * process tree; static rules have neither: an analysis emits their id and the rule supplies title,
 * severity, CVSS vector, ATT&CK ids and the agent's action.
 */
const OPS = ['eq', 'in', 'prefix', 'suffix', 'glob', 'regex', 'cidr'] as const;
type BaseOp = (typeof OPS)[number];
type Op = BaseOp | `not_${BaseOp}`;
const ALL_OPS: Op[] = [...OPS, ...OPS.map((o) => `not_${o}` as const)];

/**
 * Behaviour families. A static rule and a dynamic rule of one family describe the same behaviour
 * (a pickle that calls os.system, a program executed), so both firing is independent confirmation
 * (src/scoring weighs it).
 */
const FAMILIES = ['exec', 'native-code', 'network', 'secret-read', 'persistence'] as const;
type Family = (typeof FAMILIES)[number];

/** Tags the scoring reads. `decoy`: the detection means the run touched a planted decoy secret. */
const TAGS = ['decoy'] as const;
type Tag = (typeof TAGS)[number];

export type Scalar = string | number | boolean;
export interface Condition {
  field: string;
  op: Op;
  value: Scalar | Scalar[];
}

interface Step {
  kinds: EventKind[];
  conditions?: Condition[];
}

interface RuleTest {
  expect: 'match' | 'no_match';
  /** One event (dynamic rules) or a sequence (chain rules). */
  event?: Record<string, unknown>;
  events?: Record<string, unknown>[];
}

export interface Rule {
  id: string;
  title: string;
  description: string;
  source: 'static' | 'dynamic';
  family?: Family;
  tags?: Tag[];
  kinds?: EventKind[];
  conditions?: Condition[];
  /** Chain rules: ordered steps in one process tree (a later step's process is the earlier's or a descendant). */
  chain?: Step[];
  phases?: Phase[];
  severity: Severity;
  cvss: string;
  mitre: string[];
  action: AgentAction;
  tests?: RuleTest[];
  /** The file the rule came from (set by the loader). */
  file?: string;
}

const condition = {
  type: 'object',
  required: ['field', 'op', 'value'],
  additionalProperties: false,
  properties: {
    field: { type: 'string', minLength: 1 },
    op: { enum: ALL_OPS },
    value: {
      anyOf: [{ type: ['string', 'number', 'boolean'] }, { type: 'array', minItems: 1, items: { type: ['string', 'number', 'boolean'] } }],
    },
  },
};
const kinds = { type: 'array', minItems: 1, uniqueItems: true, items: { enum: [...EVENT_KINDS] } };

/** A complete CVSS v4.0 base vector: all eleven base metrics, in the spec's order. */
const CVSS4_BASE_METRICS = String.raw`CVSS:4\.0\/AV:[NALP]\/AC:[LH]\/AT:[NP]\/PR:[NLH]\/UI:[NPA]\/VC:[HLN]\/VI:[HLN]\/VA:[HLN]\/SC:[HLN]\/SI:[HLN]\/SA:[HLN]`;
/** The eleven base metrics, each with a value the specification defines, and nothing after them. */
export const CVSS4_BASE_ONLY = new RegExp(`^${CVSS4_BASE_METRICS}$`);
export const CVSS4_BASE = new RegExp(String.raw`^${CVSS4_BASE_METRICS}(\/[A-Z]+:[A-Z])*$`);

export const RULE_FILE_SCHEMA = {
  type: 'object',
  required: ['rule'],
  additionalProperties: false,
  properties: {
    rule: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['id', 'title', 'description', 'source', 'severity', 'cvss', 'mitre', 'action'],
        additionalProperties: false,
        properties: {
          id: { type: 'string', pattern: '^LT-[A-Z]+-[0-9]{3}$' },
          title: { type: 'string', minLength: 3, maxLength: 120 },
          description: { type: 'string', minLength: 10 },
          source: { enum: ['static', 'dynamic'] },
          family: { enum: [...FAMILIES] },
          tags: { type: 'array', minItems: 1, uniqueItems: true, items: { enum: [...TAGS] } },
          kinds,
          conditions: { type: 'array', items: condition },
          chain: { type: 'array', minItems: 2, items: { type: 'object', required: ['kinds'], additionalProperties: false, properties: { kinds, conditions: { type: 'array', items: condition } } } },
          phases: { type: 'array', minItems: 1, uniqueItems: true, items: { enum: [...PHASES] } },
          severity: { enum: [...SEVERITIES] },
          cvss: { type: 'string', pattern: CVSS4_BASE.source },
          mitre: { type: 'array', minItems: 1, items: { type: 'string', pattern: '^T[0-9]{4}(\\.[0-9]{3})?$' } },
          action: { enum: ['alert', 'block', 'kill', 'quarantine'] },
          tests: {
            type: 'array',
            items: {
              type: 'object',
              required: ['expect'],
              additionalProperties: false,
              properties: { expect: { enum: ['match', 'no_match'] }, event: { type: 'object' }, events: { type: 'array', items: { type: 'object' } } },
            },
          },
        },
        // A dynamic rule is either one event (kinds) or a chain; a static rule has no matcher at all.
        oneOf: [
          { properties: { source: { const: 'static' } }, not: { anyOf: [{ required: ['kinds'] }, { required: ['conditions'] }, { required: ['chain'] }] } },
          { properties: { source: { const: 'dynamic' } }, required: ['kinds'], not: { required: ['chain'] } },
          { properties: { source: { const: 'dynamic' } }, required: ['chain'], not: { anyOf: [{ required: ['kinds'] }, { required: ['conditions'] }] } },
        ],
      },
    },
  },
} as const;

/** Schema errors of one parsed rule file, each as "path: message"; empty when valid. */
export function schemaErrors(doc: unknown): string[] {
  const validateFile = validate as ValidateFunction;
  if (validateFile(doc)) return [];
  return (validateFile.errors ?? []).filter((e: ErrorObject) => e.keyword !== 'if').map((e: ErrorObject) => `${e.instancePath || '/'}: ${e.message ?? 'invalid'}`);
}
