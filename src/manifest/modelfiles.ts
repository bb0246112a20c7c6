import { readdir, stat } from 'node:fs/promises';
import { dirname, join, posix, relative, resolve, sep } from 'node:path';
import { LtrackError } from '../core/errors.js';

/** The model a manifest is checked against: subject name → file on this host, or why it cannot be. */
type ModelFiles = { ok: true; files: Map<string, string> } | { ok: false; reason: string };

/**
 * What `manifest verify --files` binds to: one folder (every file below it, recursively — the
 * whole folder is the model, so a file added after signing is visible), or a list of files named
 * relative to their common folder, as the manifest builder names them. Symlinks are followed as a
 * loader would follow them; a symlinked folder, a FIFO, a device or a dangling link makes the set
 * unknowable and is reported. `.git` folders are skipped as the vet skips them. A path that does not exist is bad input (exit 2), not a mismatch.
 */
export async function modelFiles(paths: string[]): Promise<ModelFiles> {
  if (paths.length === 0) throw new LtrackError('usage', 'no model files given to verify against');
  const kinds = await Promise.all(
    paths.map(async (p) => {
      const st = await stat(p).catch((err: unknown) => {
        throw new LtrackError('bad_input', `cannot read model path: ${(err as Error).message}`, { cause: err, file: p });
      });
      return st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
    }),
  );
  if (kinds.includes('dir')) {
    if (paths.length !== 1) throw new LtrackError('usage', '--files takes one model folder, or model files, not both');
    const files = new Map<string, string>();
    const problem = await walk(resolve(paths[0]!), '', files);
    return problem === undefined ? { ok: true, files } : { ok: false, reason: problem };
  }
  const other = paths.find((_, i) => kinds[i] === 'other');
  if (other !== undefined) throw new LtrackError('bad_input', 'not a regular file or folder', { file: other });
  const abs = paths.map((p) => resolve(p));
  const root = commonFolder(abs);
  const files = new Map<string, string>();
  for (const f of abs) files.set(relative(root, f).split(sep).join(posix.sep), f);
  return { ok: true, files };
}

async function walk(dir: string, prefix: string, into: Map<string, string>): Promise<string | undefined> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => undefined);
  if (entries === undefined) return `model folder unreadable: ${prefix || '.'}`;
  for (const e of entries) {
    const name = prefix ? `${prefix}/${e.name}` : e.name;
    const path = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name === '.git') continue; // version-control metadata no loader opens; the vet skips it too
      const problem = await walk(path, name, into);
      if (problem !== undefined) return problem;
    } else if (e.isFile()) {
      into.set(name, path);
    } else if (e.isSymbolicLink()) {
      const target = await stat(path).catch(() => undefined);
      if (target === undefined) return `dangling symlink in the model folder: ${name}`;
      if (!target.isFile()) return `symlink to something other than a file in the model folder: ${name}`;
      into.set(name, path);
    } else {
      return `not a regular file in the model folder: ${name}`;
    }
  }
  return undefined;
}

/** The deepest folder holding every one of `files` (absolute paths). */
export function commonFolder(files: string[]): string {
  let common = dirname(files[0]!);
  for (const f of files) while (!(f + sep).startsWith(common.endsWith(sep) ? common : common + sep)) common = dirname(common);
  return common;
}
