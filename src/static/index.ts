import { readFile } from 'node:fs/promises';
import { basename, dirname, relative, resolve } from 'node:path';
import type { Detection } from '../core/finding.js';
import { LtrackError, wrapError } from '../core/errors.js';
import type { Format } from '../core/formats.js';
import type { TargetFile } from '../core/report.js';
import { BufBytes, FileBytes, FileHandle } from '../formats/bytes.js';
import { resolveLimits, type Limits } from '../formats/limits.js';
import { startsLikePickle } from '../formats/sniff.js';
import { loaderOpensByName } from '../intake/loader-names.js';
import type { SkippedFile } from '../intake/enumerate.js';
import type { StagedFile, Staging } from '../intake/stage.js';
import { listInPlace, PinnedFile, WHOLE_FILE } from '../intake/in-place.js';
import { defaultPolicy, type GlobalsPolicy } from './pickle/policy.js';
import { scanBytes, scanPickleStream, type ScanContext } from './scan.js';
import { scanTemplateFile, templateCarrier } from './template-carriers.js';
import { spillLargeStream, type Spilled } from './spill.js';
import { tensorCompanion } from './companion.js';
import type { Progress } from '../core/progress.js';

export interface StaticResult {
  targets: TargetFile[];
  detections: Detection[];
  /** Entries of the candidates that were not staged (symlinks not followed), with why. */
  skipped: SkippedFile[];
  /**
   * Content that was not seen whatever the file's name (a container not opened, tensor bytes
   * that load only with a file that is not here), one reason each: the verdict cannot pass.
   * Files a loader opens by name and that were not analysed are the vet's to add (unaccounted).
   */
  incomplete: string[];
  /**
   * Settles when every target has its sha256: at once, unless `digestsLater` left large files read
   * in place hashing on the worker (their `sha256` is '' until then). Rejects when one of them
   * changed meanwhile. Must be awaited before the targets are reported.
   */
  digests: Promise<void>;
}

export interface ScanOptions {
  limits?: Partial<Limits>;
  onProgress?: Progress;
  /** The globals policy (the default one, or extended by --allow-globals). */
  policy?: GlobalsPolicy;
  /**
   * Return once every file is analysed, before the digests of large files read in place are taken
   * (StaticResult.digests): a vet that runs the candidate starts its sandbox meanwhile.
   */
  digestsLater?: boolean;
}

/**
 * Static analysis of model files and folders (Hugging Face snapshots), read in place: nothing is
 * run, so no private copy is needed, only that every file is the one listed until its analysis is
 * done (listInPlace). For callers that only scan; a vet that runs the candidate stages copies,
 * because the sandbox must load the bytes that were analysed.
 */
export async function scanPaths(paths: string[], options: ScanOptions = {}): Promise<StaticResult> {
  const limits = resolveLimits(options.limits);
  return scanStaged(await listInPlace(paths, { maxFiles: limits.maxFilesPerFolder, ...(options.onProgress ? { onProgress: options.onProgress } : {}) }), options);
}

/**
 * Analyses the staged copies, each by what its content is; the report names each file by the
 * user's path, with the digest of the copy. Every file is accounted for: parsed, or marked with
 * why not (`unanalysed`); entries that were not staged at all come back in `skipped`, a symlink
 * out of the candidate as a finding. A file that cannot be read is an error naming it (exit 2);
 * malformed content is a finding.
 */
export async function scanStaged(staging: Staging, options: ScanOptions = {}): Promise<StaticResult> {
  const limits = resolveLimits(options.limits);
  const policy = options.policy ?? defaultPolicy();
  const targets: TargetFile[] = [];
  const detections: Detection[] = [];
  const incomplete: string[] = [];
  const scanned: Scanned[] = [];
  for (const c of staging.candidates) {
    if (c.folder) detections.push(...(await customCode(c.given, c.files)));
    for (const [i, f] of c.files.entries()) {
      options.onProgress?.(`${f.path}${c.files.length > 1 ? ` (${i + 1}/${c.files.length})` : ''}`, true);
      scanned.push(await scanStagedFile(f, limits, policy, options.digestsLater === true));
      // let timers and I/O callbacks (the progress line among them) run between files of a large folder
      if (i % YIELD_EVERY === YIELD_EVERY - 1) await new Promise((r) => setImmediate(r));
    }
    for (const s of c.skipped) {
      if (s.effect !== 'finding') continue;
      detections.push({ ruleId: 'LT-LINK-001', source: 'static', phase: 'static', message: s.reason, evidence: { link: s.target ?? '' }, location: { file: s.path } });
    }
  }
  for (const { target, found, unseen } of withExternalData(scanned)) {
    targets.push(target);
    detections.push(...found);
    incomplete.push(...unseen);
  }
  const digests = fillDigests(
    targets,
    scanned.map((s) => s.digest),
  );
  digests.catch(() => undefined); // the caller's to await; a rejection before then is not unhandled
  return { targets, detections, skipped: staging.skipped, incomplete, digests };
}

/** Sets each target's sha256 once its file's digest is in; every file is waited for (and closed), then the first failure is thrown. */
async function fillDigests(targets: TargetFile[], pending: (Promise<string> | undefined)[]): Promise<void> {
  const settled = await Promise.allSettled(
    pending.map(async (digest, i) => {
      if (digest) targets[i]!.sha256 = await digest;
    }),
  );
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/**
 * A headerless file that an ONNX model vetted with it names as its tensors' external data (a
 * location in the model's folder, as onnx.load resolves it from the model's path) is accounted for
 * as those tensors' raw bytes: onnx.load reads it as values, nothing in it is run. Every model
 * over 2 GB is saved this way. Any other unrecognised file keeps its reason.
 */
function withExternalData(scanned: Scanned[]): Scanned[] {
  const described = new Set(scanned.flatMap((s) => [...(s.externalData ?? [])].map((location) => resolve(dirname(s.target.path), location))));
  if (described.size === 0) return scanned;
  return scanned.map((s) => {
    if (s.target.format !== 'unknown' || !described.has(resolve(s.target.path))) return s;
    const target: TargetFile = { ...s.target, format: 'onnx-external-data' };
    delete target.unanalysed;
    return { target, found: s.found, unseen: [] };
  });
}

const YIELD_EVERY = 128;

type Scanned = { target: TargetFile; found: Detection[]; unseen: string[]; externalData?: Set<string>; digest?: Promise<string> };
/** What the analysis of a file's bytes gives; its digest is the caller's, taken by its kind of staging. */
type Analysed = Omit<Scanned, 'target'> & { target: Omit<TargetFile, 'sha256'> };

/**
 * One file, by its kind of staging. A private copy carries the digest taken while copying and
 * cannot change (root-owned, read-only, in a folder only we write). A file read in place is pinned
 * (src/intake/in-place.ts): hashed from the bytes analysed — a small one from the one buffer, a
 * large one on the same descriptor (on a worker thread while this one parses) — and refused when
 * it is not, after the analysis and the digest, the file that was listed. With `later`, the digest
 * is returned pending (the file stays open until it settles) instead of awaited.
 */
async function scanStagedFile(f: StagedFile, limits: Limits, policy: GlobalsPolicy, later: boolean): Promise<Scanned> {
  if (!f.inPlace) {
    let handle: FileHandle;
    try {
      handle = new FileHandle(f.staged);
    } catch (err) {
      throw wrapError(err, 'bad_input', 'cannot open the staged copy', f.path);
    }
    try {
      // files up to WHOLE_FILE are read once into memory and parsed from there
      const bytes = f.size <= WHOLE_FILE ? new BufBytes(new FileBytes(handle, 0, f.size).read(0, f.size)) : new FileBytes(handle, 0, f.size);
      const scanned = await withSpill(bytes, handle.fd, limits, (spilled) => scanFile(f, bytes, limits, policy, spilled));
      return { ...scanned, target: { ...scanned.target, sha256: f.sha256 } };
    } finally {
      handle.close();
    }
  }
  const pinned = new PinnedFile(f);
  let scanned: Analysed;
  try {
    const bytes = pinned.whole ? new BufBytes(pinned.whole) : new FileBytes(new FileHandle(f.path, pinned.fd), 0, pinned.size);
    scanned = await withSpill(bytes, pinned.fd, limits, (spilled) => scanFile(f, bytes, limits, policy, spilled));
  } catch (err) {
    await pinned.close();
    throw err;
  }
  const digest = verifiedDigest(pinned);
  if (later && !pinned.whole) {
    digest.catch(() => undefined); // awaited by fillDigests
    return { ...scanned, target: { ...scanned.target, sha256: '' }, digest };
  }
  return { ...scanned, target: { ...scanned.target, sha256: await digest } };
}

/** The pinned file's digest, once it is known to be of the file that was listed; the file is closed either way. */
async function verifiedDigest(pinned: PinnedFile): Promise<string> {
  try {
    const sha256 = await pinned.sha256();
    pinned.assertUnchanged();
    return sha256;
  } finally {
    await pinned.close();
  }
}

/** The analysis, given the file's compressed stream unpacked to a spill file when it is one too large for memory. */
async function withSpill<T>(bytes: BufBytes | FileBytes, fd: number, limits: Limits, analyse: (spilled: Spilled | undefined) => T): Promise<T> {
  const spilled = bytes.size > limits.maxFileBytes ? undefined : await spillLargeStream(bytes, fd, limits);
  try {
    return analyse(spilled);
  } finally {
    spilled?.remove();
  }
}

/**
 * The analysis of one file's bytes, synchronously: the work is CPU-bound parsing of files the page
 * cache mostly holds, and each async fs call is a thread-pool round trip.
 */
function scanFile(f: StagedFile, bytes: BufBytes | FileBytes, limits: Limits, policy: GlobalsPolicy, spilled: Spilled | undefined): Analysed {
  const file = f.path;
  const base: Analysed['target'] = { path: file, size: bytes.size, format: 'unknown', ...(f.linkTo ? { linkTo: f.linkTo } : {}) };
  const found: Detection[] = [];
  if (bytes.size > limits.maxFileBytes) {
    found.push({
      ruleId: 'LT-LIM-001',
      source: 'static',
      phase: 'static',
      message: `file of ${bytes.size} bytes is over the size limit; hashed, not parsed`,
      evidence: { size: bytes.size },
      location: { file },
    });
    return { target: { ...base, unanalysed: `over the size limit (${limits.maxFileBytes} bytes); hashed, not parsed` }, found, unseen: [] };
  }
  const ctx: ScanContext = { file, limits, policy, out: found, unseen: [], ...(spilled ? { spilled } : {}) };
  const format = guarded(file, () => scanBytes(bytes, [], ctx));
  // transformers opens a template carrier by its name whatever its first bytes look like (a
  // template can begin like a protocol-0 pickle): it is read as one, on top of what it sniffed as
  const carrier = templateCarrier(basename(file));
  if (carrier) {
    const t = guarded(file, () => scanTemplateFile(carrier, bytes.read(0, Math.min(bytes.size, limits.maxInMemoryBytes + 1)), file, limits.maxInMemoryBytes));
    found.push(...t.found);
    if (t.format) return { target: { ...base, format: t.format }, found, unseen: [] };
  }
  if (!PICKLE_FAMILY.has(format)) guarded(file, () => polyglotPickle(bytes, format, ctx));
  const unseen = ctx.unseen!;
  const { blob, ...accounted } = accountFor(format, bytes, basename(file), limits);
  // the file itself unseen (an archive not opened): not analysed, so never a manifest subject
  const whole = unseen.find((u) => u.entry.length === 0);
  const target = { ...base, format, ...accounted, ...(whole && !accounted.unanalysed ? { unanalysed: whole.reason } : {}) };
  const reasons = unseen.map((u) => `${file}${u.entry.length ? ` (${u.entry.join(' > ')})` : ''}: ${u.reason}`);
  // tensor bytes under a name no loader opens still load through a companion file: not a pass
  if (blob && !loaderOpensByName(basename(file))) reasons.push(`${file}: ${accounted.unanalysed}`);
  return { target, found, unseen: reasons, ...(ctx.externalData ? { externalData: ctx.externalData } : {}) };
}

const PICKLE_FAMILY = new Set<Format>(['pickle', 'joblib', 'torch-legacy']);

/**
 * A file can be two formats at once: a safetensors header or a GGUF file whose first bytes are
 * also a valid pickle, loaded by torch.load or pickle.load under a name that asks for it. When
 * the content also reads as a pickle, whatever that pickle would do is reported too. A stream that
 * is no pickle (it breaks at once, or only reads as a malformed one) adds nothing.
 */
function polyglotPickle(bytes: BufBytes | FileBytes, format: Format, ctx: ScanContext): void {
  if (!startsLikePickle(bytes.read(0, 2))) return;
  const trial: Detection[] = [];
  if (scanPickleStream(bytes, [], { ...ctx, out: trial }) === 'unknown') return;
  if (!trial.some((d) => d.ruleId !== 'LT-PKL-009' && d.ruleId !== 'LT-LIM-001')) return;
  for (const d of trial) ctx.out.push({ ...d, message: `read as a pickle (the content is also ${format}): ${d.message}`, evidence: { ...d.evidence, polyglot: format } });
}

/**
 * Why a file's content was not analysed, when it was not. UTF-8 text that no loader opens by its
 * name (config.json, README.md, tokenizer files) is data: analysed as text. Under a loader's name
 * it is not (a protocol-0 pickle is text), nor is any content no parser recognised.
 */
function accountFor(format: Format, bytes: BufBytes | FileBytes, name: string, limits: Limits): { format?: Format; unanalysed?: string; blob?: true } {
  if (format !== 'unknown') return {};
  if (!loaderOpensByName(name) && bytes.size <= limits.maxInMemoryBytes && isText(bytes.read(0, bytes.size))) return { format: 'text' };
  const companion = tensorCompanion(name, bytes.size);
  if (companion) return { unanalysed: companion, blob: true };
  return { unanalysed: 'content not recognised as any model format; not parsed' };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function isText(data: Buffer): boolean {
  if (data.includes(0)) return false;
  try {
    utf8.decode(data);
    return true;
  } catch {
    return false;
  }
}

/** A parser bug must not pass a file: it becomes an error naming the file (exit 3, and a bug report). */
function guarded<T>(file: string, body: () => T): T {
  try {
    return body();
  } catch (err) {
    throw err instanceof LtrackError ? err : new LtrackError('internal', `static analysis failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err, file });
  }
}

/**
 * A Hugging Face snapshot whose config.json maps classes to its own modules (`auto_map`) runs
 * those .py files under trust_remote_code: they are code, reported as such.
 */
async function customCode(given: string, files: StagedFile[]): Promise<Detection[]> {
  const file = files.find((f) => f.rel === 'config.json');
  if (!file) return [];
  let config: { auto_map?: Record<string, unknown> };
  try {
    config = JSON.parse(await readFile(file.staged, 'utf8')) as typeof config;
  } catch {
    return [];
  }
  if (!config.auto_map || typeof config.auto_map !== 'object') return [];
  const refs = Object.values(config.auto_map).flat().map(String);
  return files
    .map((f) => f.path)
    .filter((f) => f.endsWith('.py'))
    .map((f) => ({
      ruleId: 'LT-HF-001',
      source: 'static' as const,
      phase: 'static' as const,
      message: `custom code ${relative(given, f)} runs under trust_remote_code (config.json auto_map: ${refs.slice(0, 3).join(', ')})`,
      evidence: { autoMap: refs },
      location: { file: f },
    }));
}
