import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { Detection } from '../core/finding.js';
import { LtrackError, wrapError } from '../core/errors.js';
import type { TargetFile } from '../report/schema.js';
import { BufBytes, FileBytes, FileHandle } from '../formats/bytes.js';
import { resolveLimits, type Limits } from '../formats/limits.js';
import { defaultPolicy, type GlobalsPolicy } from './pickle/policy.js';
import { scanBytes } from './scan.js';

export interface StaticResult {
  targets: TargetFile[];
  detections: Detection[];
}

/**
 * Static analysis of model files and folders (Hugging Face snapshots): every file is hashed
 * (sha256 of every byte, streamed) and parsed by what its content is. A file that cannot be read
 * is an error naming it (exit 2); malformed content is a finding.
 */
export async function scanPaths(paths: string[], options: { limits?: Partial<Limits>; onProgress?: (msg: string) => void; policy?: GlobalsPolicy } = {}): Promise<StaticResult> {
  const limits = resolveLimits(options.limits);
  const policy = options.policy ?? defaultPolicy();
  const targets: TargetFile[] = [];
  const detections: Detection[] = [];
  for (const p of paths) {
    const s = await stat(p).catch((err: unknown) => Promise.reject(wrapError(err, 'bad_input', 'cannot read', p)));
    const files = s.isDirectory() ? await walk(p, limits) : [p];
    if (s.isDirectory()) detections.push(...(await customCode(p, files)));
    for (let i = 0; i < files.length; i++) {
      if (i % PROGRESS_EVERY === 0) options.onProgress?.(`static: ${files[i]}${files.length > 1 ? ` (${i + 1}/${files.length})` : ''}`);
      const { target, found } = scanFile(files[i]!, limits, policy);
      targets.push(target);
      detections.push(...found);
      // let timers and I/O callbacks run between files of a large folder
      if (i % PROGRESS_EVERY === PROGRESS_EVERY - 1) await new Promise((r) => setImmediate(r));
    }
  }
  return { targets, detections };
}

const PROGRESS_EVERY = 128;

/** Files up to this size are read once into memory and hashed and parsed from there. */
const SMALL_FILE = 1 << 20;

/**
 * One file, synchronously: the work is CPU-bound parsing and hashing of files the page cache
 * mostly holds, and each async fs call is a thread-pool round trip (four per small file).
 */
function scanFile(file: string, limits: Limits, policy: ReturnType<typeof defaultPolicy>): { target: TargetFile; found: Detection[] } {
  let size: number;
  try {
    size = statSync(file).size;
  } catch (err) {
    throw wrapError(err, 'bad_input', 'cannot read', file);
  }
  const found: Detection[] = [];
  if (size <= SMALL_FILE) {
    let data: Buffer;
    try {
      data = readFileSync(file);
    } catch (err) {
      throw wrapError(err, 'bad_input', 'cannot read', file);
    }
    const sha256 = createHash('sha256').update(data).digest('hex');
    const format = guarded(file, () => scanBytes(new BufBytes(data), [], { file, limits, policy, out: found }));
    return { target: { path: file, sha256, size: data.length, format }, found };
  }
  const sha256 = sha256Of(file);
  if (size > limits.maxFileBytes) {
    found.push({ ruleId: 'LT-LIM-001', source: 'static', phase: 'static', message: `file of ${size} bytes is over the size limit; hashed, not parsed`, evidence: { size }, location: { file } });
    return { target: { path: file, sha256, size, format: 'unknown' }, found };
  }
  let handle: FileHandle;
  try {
    handle = new FileHandle(file);
  } catch (err) {
    throw wrapError(err, 'bad_input', 'cannot open', file);
  }
  try {
    const format = guarded(file, () => scanBytes(new FileBytes(handle, 0, size), [], { file, limits, policy, out: found }));
    return { target: { path: file, sha256, size, format }, found };
  } finally {
    handle.close();
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
 * sha256 of every byte, read synchronously into one reused buffer: a read stream allocates a
 * fresh buffer per chunk, and fresh pages cost a fault each here — 1.5–1.8 s per GB against
 * 0.8 s this way, which is openssl's speed (bench/RESULTS.md).
 */
function sha256Of(file: string): string {
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(HASH_CHUNK);
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    for (let n; (n = readSync(fd, buf, 0, HASH_CHUNK, null)) > 0; ) h.update(n === HASH_CHUNK ? buf : buf.subarray(0, n));
  } catch (err) {
    throw wrapError(err, 'bad_input', 'cannot read', file);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  return h.digest('hex');
}

const HASH_CHUNK = 256 << 10;

async function walk(dir: string, limits: Limits): Promise<string[]> {
  const out: string[] = [];
  const stack = [dir];
  while (stack.length > 0) {
    const d = stack.pop()!;
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.name === '.git') continue;
      const p = join(d, e.name);
      if (e.isDirectory()) stack.push(p);
      else if (e.isFile()) out.push(p);
      if (out.length > limits.maxFilesPerFolder) throw new LtrackError('bad_input', `more than ${limits.maxFilesPerFolder} files`, { file: dir });
    }
  }
  return out.sort();
}

/**
 * A Hugging Face snapshot whose config.json maps classes to its own modules (`auto_map`) runs
 * those .py files under trust_remote_code: they are code, reported as such.
 */
async function customCode(dir: string, files: string[]): Promise<Detection[]> {
  let config: { auto_map?: Record<string, unknown> };
  try {
    config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as typeof config;
  } catch {
    return [];
  }
  if (!config.auto_map || typeof config.auto_map !== 'object') return [];
  const refs = Object.values(config.auto_map).flat().map(String);
  return files
    .filter((f) => f.endsWith('.py'))
    .map((f) => ({
      ruleId: 'LT-HF-001',
      source: 'static' as const,
      phase: 'static' as const,
      message: `custom code ${relative(dir, f)} runs under trust_remote_code (config.json auto_map: ${refs.slice(0, 3).join(', ')})`,
      evidence: { autoMap: refs },
      location: { file: f },
    }));
}
