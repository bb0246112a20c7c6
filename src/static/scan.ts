import type { Detection, Location } from '../core/finding.js';
import type { Format } from '../core/formats.js';
import { BufBytes, Cursor, type Bytes } from '../formats/bytes.js';
import type { Limits } from '../formats/limits.js';
import { sniff } from '../formats/sniff.js';
import { memberData, readZip } from '../formats/zip.js';
import { unpack, type Compression } from '../formats/unpack.js';
import { zfileDataOffset } from '../formats/joblib.js';
import type { Spilled } from './spill.js';
import { kerasCodeLayers, nestingBeyond } from '../formats/keras.js';
import { readOnnx } from '../formats/onnx.js';
import { readTar } from '../formats/tar.js';
import { read7z } from '../formats/sevenzip.js';
import { readNpyHeader } from '../formats/npy.js';
import { checkSafetensors } from '../formats/safetensors.js';
import { readGgufHeader } from '../formats/gguf.js';
import { isTemplateKey, specialTokenDetections, templateDetections } from './template-carriers.js';
import { analysePickle, type PickleContext } from './pickle/analyse.js';
import { runPickle, type PickleRun } from './pickle/interpreter.js';
import type { GlobalsPolicy } from './pickle/policy.js';
import { markPayloadArguments } from './payload-args.js';

export interface ScanContext {
  file: string;
  limits: Limits;
  policy: GlobalsPolicy;
  out: Detection[];
  /**
   * Content that could not be seen, with why (a container that could not be opened, bytes that
   * load only with a file that is not here): each makes the vet incomplete, whatever the file's
   * name. Shared with nested scans. Without it, the findings alone say so.
   */
  unseen?: Unseen[];
  /** The whole file's compressed stream, already unpacked to a spill file (src/static/spill.ts): too large to unpack in memory. */
  spilled?: Spilled;
  /** Where the file, an ONNX model, keeps tensors outside itself (relative to its folder): the caller accounts for those files. */
  externalData?: Set<string>;
}

export interface Unseen {
  /** Container path of what was not seen; empty for the file itself. */
  entry: string[];
  reason: string;
}

const detect = (ctx: ScanContext, ruleId: string, message: string, entry: string[], extra: Partial<Location> = {}, evidence: Record<string, unknown> = {}) =>
  ctx.out.push({ ruleId, source: 'static', phase: 'static', message, evidence, location: { file: ctx.file, ...(entry.length ? { entry } : {}), ...extra } });

/** Legacy torch.save streams start with a pickle of this magic number, then four more pickles and raw storages. */
const TORCH_LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

/**
 * Scans one byte range by what its content is and returns the format name the sandbox loader
 * should use for it (pickle, torch-zip, torch-legacy, joblib, npy, npz, …). Containers recurse with
 * the member's name appended to `entry`.
 */
export function scanBytes(bytes: Bytes, entry: string[], ctx: ScanContext, depth = 0): Format {
  if (depth > ctx.limits.maxNestingDepth) {
    detect(ctx, 'LT-LIM-001', 'containers nested deeper than the nesting limit; not analysed further', entry);
    return 'unknown';
  }
  const kind = sniff(bytes);
  switch (kind) {
    case 'pickle':
      return scanPickleStream(bytes, entry, ctx, depth);
    case 'zip':
      return scanZip(bytes, entry, ctx, depth);
    case 'npy':
      scanNpy(bytes, entry, ctx);
      return 'npy';
    case 'gzip':
    case 'zlib':
    case 'bz2':
    case 'xz':
    case 'lzma':
    case 'lz4':
      return scanCompressed(kind, bytes, entry, ctx, depth);
    case 'joblib-zfile': {
      // joblib < 0.10: a zlib stream after a length header; joblib.load unpickles whatever it inflates to
      const start = zfileDataOffset(bytes.read(0, 32));
      scanCompressed('zlib', bytes.slice(start, bytes.size - start), [...entry, 'joblib-zfile'], ctx, depth);
      return 'joblib';
    }
    case 'safetensors':
      for (const problem of checkSafetensors(bytes, ctx.limits)) detect(ctx, 'LT-ST-001', problem, entry);
      return 'safetensors';
    case 'hdf5':
      return scanHdf5(bytes, entry, ctx);
    case 'gguf':
      scanGguf(bytes, entry, ctx);
      return 'gguf';
    case 'unknown':
      return scanMaybeOnnx(bytes, entry, ctx);
    case 'tar':
      return scanTar(bytes, entry, ctx, depth);
    case '7z':
      scan7z(bytes, entry, ctx, depth);
      return '7z';
  }
}

/** A compressed stream, unpacked within the bounds and its content scanned by what it is. */
function scanCompressed(kind: Compression, bytes: Bytes, entry: string[], ctx: ScanContext, depth: number): Format {
  const spilled = depth === 0 && ctx.spilled?.kind === kind ? ctx.spilled : undefined;
  const unpacked = spilled ?? unpack(kind, bytes.read(0, Math.min(bytes.size, ctx.limits.maxInMemoryBytes + 1)), ctx.limits);
  if ('problem' in unpacked) {
    detect(ctx, unpacked.limit ? 'LT-LIM-001' : 'LT-FMT-001', `${unpacked.problem}; its loader must be confirmed dynamically`, entry);
    return kind;
  }
  if (unpacked.cut) detect(ctx, 'LT-LIM-001', unpacked.cut, entry);
  const content = 'data' in unpacked ? new BufBytes(unpacked.data) : unpacked.bytes;
  const innerFormat = scanBytes(content, [...entry, `${kind}-content`], ctx, depth + 1);
  // joblib's compressed dumps are a compressed joblib pickle; joblib.load reads them.
  return innerFormat === 'joblib' || innerFormat === 'pickle' ? 'joblib' : kind;
}

/** Pickles back to back: pickle.load reads one, torch's legacy format five, joblib one with inline arrays. */
export function scanPickleStream(bytes: Bytes, entry: string[], ctx: ScanContext, depth = 0): Format {
  const cur = new Cursor(bytes);
  let format: Format = 'pickle';
  const runs: PickleRun[] = [];
  for (let i = 0; cur.remaining > 0; i++) {
    if (i >= ctx.limits.maxPicklesPerStream) {
      detect(ctx, 'LT-LIM-001', `more than ${ctx.limits.maxPicklesPerStream} pickles in one stream; the rest are not analysed`, entry);
      break;
    }
    const start = cur.pos;
    const run = runPickle(cur, ctx.limits);
    // A first pickle that is not one (protocol 0/1 sniffing matched text) means this is no pickle at all;
    // one that ran into an analysis bound is one (and the loader goes on past the bound).
    if (i === 0 && run.error && !run.error.limit && !bytes.read(0, 1).equals(Buffer.from([0x80])) && run.imports.length === 0) return 'unknown';
    // Trailing bytes that do not even begin a pickle end the stream quietly (pickle.load never reads them).
    if (i > 0 && run.error && cur.pos - start <= 2 && run.imports.length === 0) break;
    runs.push(run);
    const found = analysePickle(run, { file: ctx.file, entry, base: 0, policy: ctx.policy, limits: ctx.limits, depth, nested: nestedScanner(ctx) });
    markPayloadArguments(run, found);
    ctx.out.push(...found);
    if (run.error) break;
    if (i === 0 && isTorchLegacyMagic(bytes, start, run)) format = 'torch-legacy';
    // torch's legacy format: magic, protocol, sys info, the object, storage keys; raw storage bytes follow.
    if (format === 'torch-legacy' && i === 4) break;
  }
  if (format === 'pickle' && runs.some((r) => r.imports.some((m) => m.module === 'joblib.numpy_pickle'))) format = 'joblib';
  return format;
}

/**
 * Bytes a deserialising callable receives inside a pickle (torch.storage._load_from_bytes,
 * pickle.loads, …) are a nested candidate: scanned as the callable reads them — one pickle, or by
 * content like torch.load (zip, tar, legacy stream; anything else it unpickles) — with findings
 * located inside the outer stream's entry.
 */
function nestedScanner(ctx: ScanContext): NonNullable<PickleContext['nested']> {
  return (data, entry, how, depth) => {
    const sub: ScanContext = { ...ctx, out: [] };
    if (how === 'pickle' || scanBytes(data, entry, sub, depth) === 'unknown') scanPickleStream(data, entry, sub, depth);
    return sub.out;
  };
}

function isTorchLegacyMagic(bytes: Bytes, start: number, run: PickleRun): boolean {
  // protocol 2: PROTO 2, LONG1 10 <10 bytes little-endian>, STOP
  const b = bytes.read(start, 14);
  if (run.end - start !== 15 || b[2] !== 0x8a || b[3] !== 10) return false;
  let v = 0n;
  for (let i = 9; i >= 0; i--) v = (v << 8n) | BigInt(b[4 + i]!);
  return v === TORCH_LEGACY_MAGIC;
}

function scanZip(bytes: Bytes, entry: string[], ctx: ScanContext, depth: number): Format {
  const zip = readZip(bytes, ctx.limits);
  for (const p of zip.problems) detect(ctx, p.ruleId, p.message, p.entry ? [...entry, p.entry] : entry, p.offset !== undefined ? { byteOffset: p.offset } : {});
  const names = zip.entries.map((e) => e.name);
  const torch = names.some((n) => /(^|\/)data\.pkl$/.test(n));
  const npz = names.length > 0 && names.every((n) => n.endsWith('.npy'));
  const keras = names.includes('config.json') && names.some((n) => n.endsWith('.weights.h5'));
  for (const e of zip.entries) {
    const where = [...entry, e.name];
    if (torch && /(^|\/)code\//.test(e.name) && !e.name.endsWith('/')) {
      detect(ctx, 'LT-PKL-011', `TorchScript code in the checkpoint: ${e.name} (runs when the module is scripted or loaded with torch.jit)`, where);
      continue;
    }
    // Tensor storages of a torch checkpoint are data; everything else that may be a pickle is read.
    if (torch && /(^|\/)data\/\d+$/.test(e.name)) continue;
    const got = memberData(bytes, e, ctx.limits);
    if ('problem' in got) {
      detect(ctx, got.problem.ruleId, got.problem.message, where);
      continue;
    }
    for (const p of got.problems) detect(ctx, p.ruleId, p.message, where);
    if (keras && e.name === 'config.json') {
      scanKerasConfig(got.data, where, ctx);
      continue;
    }
    const head = got.data.read(0, 2);
    const looksPickle = head[0] === 0x80 || e.name.endsWith('.pkl');
    if (npz || e.name.endsWith('.npy') || looksPickle || e.name.endsWith('.h5') || head[0] === 0x50) scanBytes(got.data, where, ctx, depth + 1);
  }
  return torch ? 'torch-zip' : npz ? 'npz' : keras ? 'keras' : 'zip';
}

/**
 * 7z: nothing loads a 7z archive, but what people extract from one is what runs, so every member
 * is scanned by its content like a zip member. An archive that could not be extracted (encrypted,
 * over a bound, malformed, no 7-Zip on the host) left its members unseen: a finding and incomplete.
 */
function scan7z(bytes: Bytes, entry: string[], ctx: ScanContext, depth: number): void {
  const archive = read7z(bytes, ctx.limits);
  if ('problem' in archive) {
    detect(ctx, archive.limit ? 'LT-LIM-001' : 'LT-FMT-001', `${archive.problem}; its members were not analysed`, entry);
    ctx.unseen?.push({ entry, reason: `7z archive not opened (${archive.problem}); its members were not analysed` });
    return;
  }
  for (const m of archive.members) scanBytes(new BufBytes(m.data), [...entry, m.name], ctx, depth + 1);
}

/**
 * Tar: every member is scanned by its content like a zip member's. The oldest torch.save format
 * is a tar whose `pickle`, `storages` and `tensors` members torch.load unpickles.
 */
function scanTar(bytes: Bytes, entry: string[], ctx: ScanContext, depth: number): Format {
  const tar = readTar(bytes, ctx.limits);
  for (const problem of tar.problems) detect(ctx, 'LT-FMT-001', `${problem}; the rest of the archive is not analysed`, entry);
  for (const m of tar.members) scanBytes(bytes.slice(m.offset, m.size), [...entry, m.name], ctx, depth + 1);
  const names = new Set(tar.members.map((m) => m.name));
  return names.has('pickle') && names.has('storages') ? 'torch-tar' : 'tar';
}

/** `.keras` zip: config.json is the architecture; Lambda layers and objects from outside Keras run code. */
function scanKerasConfig(bytes: Bytes, entry: string[], ctx: ScanContext): void {
  if (bytes.size > ctx.limits.maxHeaderBytes) {
    detect(ctx, 'LT-LIM-001', `Keras config.json of ${bytes.size} bytes is over the header limit; not analysed`, entry);
    return;
  }
  const text = bytes.read(0, bytes.size).toString('utf8');
  const layers = kerasCodeLayers(text, ctx.limits.maxNestingDepth * 4);
  if (!layers) {
    detect(ctx, 'LT-FMT-001', 'Keras config.json is not JSON; the architecture was not analysed', entry);
    return;
  }
  // offsets are of the text in config.json (its JSON is ASCII in practice), for the report's region
  const at = (needle: string) => Math.max(0, text.indexOf(needle));
  if (layers.tooDeep)
    detect(ctx, 'LT-KERAS-003', `Keras config.json nests deeper than ${ctx.limits.maxNestingDepth * 4} levels: the layers below were not analysed`, entry, {
      byteOffset: nestingBeyond(text, ctx.limits.maxNestingDepth * 4) ?? 0,
    });
  for (const name of layers.lambdas)
    detect(ctx, 'LT-KERAS-001', `Keras Lambda layer ${name}: its Python function is rebuilt and called when the model is loaded`, entry, { byteOffset: at('"Lambda"') }, { layer: name });
  for (const obj of [...new Set(layers.customObjects)])
    detect(ctx, 'LT-KERAS-002', `Keras model needs ${obj} from outside Keras: loading it imports and runs that module's code`, entry, { byteOffset: at(obj.split('.').pop()!) }, { object: obj });
}

/**
 * ONNX has no magic number: content that begins with ModelProto's first field (ir_version, tag
 * 0x08, which onnx.save writes first) is tried as a model, and counts as one only if it parses.
 */
function scanMaybeOnnx(bytes: Bytes, entry: string[], ctx: ScanContext): Format {
  if (bytes.size < 4 || bytes.read(0, 1)[0] !== 0x08) return 'unknown';
  if (bytes.size > ctx.limits.maxFileBytes) return 'unknown';
  const model = readOnnx(bytes, ctx.limits);
  if (model === undefined) return 'unknown';
  if ('problem' in model) {
    detect(ctx, 'LT-ONNX-003', `malformed ONNX model: ${model.problem}`, entry);
    return 'onnx';
  }
  for (const { tensor, location, offset } of model.escapingLocations) {
    detect(
      ctx,
      'LT-ONNX-001',
      `tensor ${tensor || '(unnamed)'} stores its data at ${JSON.stringify(location)}, outside the model's folder: loading reads that file`,
      entry,
      { byteOffset: offset },
      { tensor, location },
    );
  }
  if (entry.length === 0) ctx.externalData = model.externalLocations;
  for (const [domain, { ops, offset }] of model.customDomains) {
    detect(
      ctx,
      'LT-ONNX-002',
      `operators from the custom domain ${JSON.stringify(domain)} (${[...ops].slice(0, 5).join(', ')}) need a custom-op library: native code the loader registers`,
      entry,
      { byteOffset: offset },
      { domain, ops: [...ops] },
    );
  }
  return 'onnx';
}

function scanNpy(bytes: Bytes, entry: string[], ctx: ScanContext): void {
  const h = readNpyHeader(bytes, ctx.limits);
  if ('problem' in h) {
    detect(ctx, 'LT-FMT-002', `npy header: ${h.problem}`, entry);
    return;
  }
  // An object array is a pickle after the header: numpy.load(allow_pickle=True) runs it.
  if (h.object) scanBytes(bytes.slice(h.dataOffset, bytes.size - h.dataOffset), [...entry, 'object-array'], ctx, 1);
}

/** GGUF: the header must parse; its chat templates are Jinja that runtimes render (src/static/template.ts). */
function scanGguf(bytes: Bytes, entry: string[], ctx: ScanContext): void {
  const h = readGgufHeader(bytes, ctx.limits);
  if ('problem' in h) {
    detect(ctx, 'LT-GGUF-002', `GGUF header: ${h.problem}`, entry);
    return;
  }
  const templates = [...h.strings].filter(([key]) => isTemplateKey(key)).map(([key, template]) => ({ key, template, offset: h.offsets.get(key)! }));
  ctx.out.push(...templateDetections(ctx.file, entry, templates));
  if (templates.length) ctx.out.push(...specialTokenDetections(ctx.file, entry, h.specialTokens));
}

/**
 * Keras HDF5: the architecture is JSON in the `model_config` attribute. Without an HDF5 reader
 * here, the JSON is found by its text in the file's first megabytes (h5py stores the attribute's
 * string contiguously, near the start) and parsed like a `.keras` config: Lambda layers carry
 * marshalled Python bytecode that runs at load; objects from outside Keras need their module.
 */
function scanHdf5(bytes: Bytes, entry: string[], ctx: ScanContext): Format {
  const text = bytes.read(0, Math.min(bytes.size, ctx.limits.maxHeaderBytes, 8 << 20)).toString('latin1');
  if (!text.includes('model_config')) return 'hdf5';
  const start = text.indexOf('{"class_name"');
  const json = start < 0 ? undefined : balancedJson(text, start);
  const layers = json === undefined ? undefined : kerasCodeLayers(Buffer.from(json, 'latin1').toString('utf8'), ctx.limits.maxNestingDepth * 4);
  if (layers) {
    if (layers.tooDeep)
      detect(ctx, 'LT-KERAS-003', `Keras model_config nests deeper than ${ctx.limits.maxNestingDepth * 4} levels: the layers below were not analysed`, entry, {
        byteOffset: start + (nestingBeyond(json!, ctx.limits.maxNestingDepth * 4) ?? 0),
      });
    for (const name of layers.lambdas)
      detect(ctx, 'LT-KERAS-001', `Keras Lambda layer ${name}: its marshalled Python code runs when the model is loaded`, entry, { byteOffset: text.indexOf('"Lambda"', start) }, { layer: name });
    for (const obj of [...new Set(layers.customObjects)])
      detect(ctx, 'LT-KERAS-002', `Keras model needs ${obj} from outside Keras: loading it imports and runs that module's code`, entry, { byteOffset: start }, { object: obj });
    return 'keras-h5';
  }
  // the config could not be cut out whole: fall back to the text
  const lambda = /"class_name":\s*"Lambda"/.exec(text);
  if (lambda) detect(ctx, 'LT-KERAS-001', 'Keras model with a Lambda layer: its marshalled Python code runs when the model is loaded', entry, { byteOffset: lambda.index });
  return 'keras-h5';
}

/** The JSON object starting at `start`: braces balanced outside strings, or undefined. */
function balancedJson(text: string, start: number): string | undefined {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return text.slice(start, i + 1);
  }
  return undefined;
}
