import { FORMATS } from '../core/formats.js';
import { PHASES } from '../core/phase.js';
import { SEVERITIES } from '../core/severity.js';
import { REPORT_VERSION } from '../core/report.js';

const str = { type: 'string' } as const;
const num = { type: 'number' } as const;
const strs = { type: 'array', items: str } as const;
const severity = { enum: SEVERITIES } as const;
const phase = { enum: PHASES } as const;

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
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['path', 'sha256', 'size', 'format'],
        properties: { path: str, sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' }, size: { type: 'integer', minimum: 0 }, format: { enum: FORMATS }, unanalysed: str, linkTo: str },
      },
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
          cvss: {
            type: 'object',
            additionalProperties: false,
            required: ['vector', 'base', 'score', 'weighting'],
            properties: { vector: { type: 'string', pattern: '^CVSS:4\\.0/' }, base: num, score: num, weighting: strs },
          },
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
          items: {
            type: 'object',
            required: ['kind', 'family', 'addr', 'port', 'denied'],
            additionalProperties: false,
            properties: { kind: str, family: str, addr: str, port: num, phase, denied: { type: 'boolean' } },
          },
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
            fromDeps: {
              type: 'array',
              items: { type: 'object', additionalProperties: false, required: ['name', 'version', 'loaded'], properties: { name: str, version: str, loaded: { type: 'boolean' } } },
            },
          },
        },
      },
    },
    rulesetDigest: { type: 'string', pattern: '^[0-9a-f]{64}$' },
    globalsPolicy: {
      type: 'array',
      items: { type: 'object', additionalProperties: false, required: ['file', 'sha256'], properties: { file: str, sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' } } },
    },
  },
} as const;
