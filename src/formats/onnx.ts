import type { Bytes } from './bytes.js';
import type { Limits } from './limits.js';
import { fields, text, WireError, type Field } from './protobuf.js';

/**
 * What an ONNX model (onnx.proto's ModelProto) says that matters before loading it:
 * - the operator domains it uses: a domain onnxruntime does not implement needs a custom-op
 *   library, native code the loader registers;
 * - tensors stored outside the file (`external_data` with a `location`): onnx.load reads that
 *   path relative to the model's folder, so an absolute path or `..` reads any file the loader
 *   can (CVE-2022-25882, CVE-2024-27318).
 * Field numbers are onnx.proto's. Tensor bytes (raw_data) are skipped, never read.
 */
export interface OnnxSummary {
  irVersion: number;
  /** non-standard operator domains with the op types used from them, and the byte offset of the first such node */
  customDomains: Map<string, { ops: Set<string>; offset: number }>;
  /** tensors whose external data location escapes the model's folder (offset: the tensor's message) */
  escapingLocations: { tensor: string; location: string; offset: number }[];
  /** the other external data locations (inside the model's folder), each once, at most MAX_LOCATIONS */
  externalLocations: Set<string>;
  nodes: number;
}

const MAX_LOCATIONS = 4096;

/** Domains implemented by onnxruntime itself (no custom-op library needed). */
const STANDARD_DOMAINS = new Set([
  '',
  'ai.onnx',
  'ai.onnx.ml',
  'ai.onnx.training',
  'ai.onnx.preview.training',
  'com.microsoft',
  'com.microsoft.nchwc',
  'com.microsoft.experimental',
  'org.pytorch.aten',
  'com.ms.internal.nhwc',
]);

const MODEL = { irVersion: 1, graph: 7, opsetImport: 8, functions: 25 } as const;
const GRAPH = { node: 1, initializer: 5, sparseInitializer: 15 } as const;
const NODE = { opType: 4, attribute: 5, domain: 7 } as const;
const ATTRIBUTE = { t: 5, g: 6, tensors: 10, graphs: 11 } as const;
const TENSOR = { name: 8, externalData: 13, dataLocation: 14 } as const;
const SPARSE_TENSOR = { values: 1, indices: 2 } as const;
const ENTRY = { key: 1, value: 2 } as const;
const FUNCTION = { node: 7 } as const;

/**
 * Parses bytes as a ModelProto. Undefined when they are not one (protobuf has no magic number:
 * only a complete parse with an ir_version and a graph counts as ONNX); a `problem` when a model
 * that began like one breaks the wire format or a bound.
 */
export function readOnnx(bytes: Bytes, limits: Limits): OnnxSummary | { problem: string } | undefined {
  const summary: OnnxSummary = { irVersion: 0, customDomains: new Map(), escapingLocations: [], externalLocations: new Set(), nodes: 0 };
  let graph = false;
  try {
    for (const f of fields(bytes, 0, bytes.size)) {
      if (f.no === MODEL.irVersion && f.wire === 0) summary.irVersion = Number(f.value);
      else if (f.no === MODEL.graph && f.wire === 2) {
        graph = true;
        readGraph(bytes, f, summary, limits, 0);
      } else if (f.no === MODEL.functions && f.wire === 2) {
        for (const g of sub(bytes, f)) if (g.no === FUNCTION.node && g.wire === 2) readNode(bytes, g, summary, limits, 1);
      }
    }
  } catch (err) {
    if (!(err instanceof WireError || err instanceof BoundError)) throw err;
    // bytes that merely started like a ModelProto are not ONNX; a model with a graph is, broken
    return graph && summary.irVersion > 0 ? { problem: err.message } : undefined;
  }
  return graph && summary.irVersion > 0 ? summary : undefined;
}

class BoundError extends Error {}

function sub(bytes: Bytes, f: Field): Generator<Field> {
  if (f.wire !== 2) throw new WireError(`field ${f.no} should be a message`);
  return fields(bytes, f.start, f.start + f.length);
}

function readGraph(bytes: Bytes, g: Field, s: OnnxSummary, limits: Limits, depth: number): void {
  if (depth > limits.maxNestingDepth) throw new BoundError(`subgraphs nested deeper than ${limits.maxNestingDepth}`);
  for (const f of sub(bytes, g)) {
    if (f.wire !== 2) continue;
    if (f.no === GRAPH.node) readNode(bytes, f, s, limits, depth);
    else if (f.no === GRAPH.initializer) readTensor(bytes, f, s);
    else if (f.no === GRAPH.sparseInitializer) for (const t of sub(bytes, f)) if ((t.no === SPARSE_TENSOR.values || t.no === SPARSE_TENSOR.indices) && t.wire === 2) readTensor(bytes, t, s);
  }
}

function readNode(bytes: Bytes, n: Field, s: OnnxSummary, limits: Limits, depth: number): void {
  if (++s.nodes > limits.maxZipEntries * 10) throw new BoundError(`more than ${limits.maxZipEntries * 10} nodes`);
  let domain = '';
  let opType = '';
  for (const f of sub(bytes, n)) {
    if (f.wire !== 2) continue;
    if (f.no === NODE.domain) domain = text(bytes, f, 256);
    else if (f.no === NODE.opType) opType = text(bytes, f, 256);
    else if (f.no === NODE.attribute) {
      for (const a of sub(bytes, f)) {
        if (a.wire !== 2) continue;
        if (a.no === ATTRIBUTE.g || a.no === ATTRIBUTE.graphs) readGraph(bytes, a, s, limits, depth + 1);
        else if (a.no === ATTRIBUTE.t || a.no === ATTRIBUTE.tensors) readTensor(bytes, a, s);
      }
    }
  }
  if (!STANDARD_DOMAINS.has(domain)) {
    const seen = s.customDomains.get(domain) ?? { ops: new Set<string>(), offset: n.wire === 2 ? n.start : 0 };
    if (seen.ops.size < 64) seen.ops.add(opType);
    s.customDomains.set(domain, seen);
  }
}

function readTensor(bytes: Bytes, t: Field, s: OnnxSummary): void {
  let name = '';
  let location: string | undefined;
  for (const f of sub(bytes, t)) {
    if (f.no === TENSOR.name && f.wire === 2) name = text(bytes, f, 256);
    else if (f.no === TENSOR.externalData && f.wire === 2) {
      let key = '';
      let value = '';
      for (const e of sub(bytes, f)) {
        if (e.wire !== 2) continue;
        if (e.no === ENTRY.key) key = text(bytes, e, 64);
        else if (e.no === ENTRY.value) value = text(bytes, e, 4096);
      }
      if (key === 'location') location = value;
    }
  }
  if (location === undefined) return;
  if (escapes(location)) {
    if (s.escapingLocations.length < 64) s.escapingLocations.push({ tensor: name, location, offset: t.wire === 2 ? t.start : 0 });
  } else if (s.externalLocations.size < MAX_LOCATIONS) s.externalLocations.add(location);
}

/** Absolute (POSIX or Windows), or climbing out with `..`. */
function escapes(location: string): boolean {
  if (location.startsWith('/') || location.startsWith('\\') || /^[A-Za-z]:[\\/]/.test(location) || location.startsWith('~')) return true;
  return location.split(/[\\/]/).includes('..');
}
