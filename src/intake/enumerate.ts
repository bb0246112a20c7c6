import type { Dirent, Stats } from 'node:fs';
import { lstat, readdir, readlink, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, sep } from 'node:path';
import { LtrackError } from '../core/errors.js';

/** One regular file of a candidate, by the name loaders know it and where its bytes are. */
export interface CandidateFile {
  /** The path the user gave, or joined under the folder the user gave: what the report names. */
  path: string;
  /** The file whose bytes are copied: `path` itself, or where a symlink inside the candidate resolves. */
  source: string;
  /** Where the copy goes under the candidate's staging folder (the base name for a single file). */
  rel: string;
  /** A symlink inside the candidate: its target, relative to the candidate root. */
  linkTo?: string;
}

/**
 * A directory entry of the candidate that is not staged, named with why. `effect` says what it
 * does to the verdict: a symlink out of the candidate is a finding (production's loader would read
 * bytes nobody vetted), a link to a folder leaves files unseen (incomplete), the rest are inert.
 */
export interface SkippedFile {
  path: string;
  reason: string;
  effect: 'finding' | 'incomplete' | 'none';
  /** For symlinks, what the link says (readlink). */
  target?: string;
}

export interface Candidate {
  /** As given on the command line. */
  given: string;
  folder: boolean;
  /** Where the candidate's files are, symlinks resolved: the folder, or the folder holding the file. */
  root: string;
  files: CandidateFile[];
  skipped: SkippedFile[];
}

/**
 * Lists every entry of one candidate without reading any file's content. Anything that is not a
 * regular file, a folder or a symlink (a FIFO, a socket, a device such as /dev/zero) is bad input:
 * reading it could hang or never end. Symlinks inside a folder are resolved when they stay inside
 * the candidate root — a Hugging Face cache snapshot (`models--o--n/snapshots/<commit>/`) links
 * every file to `../../blobs/<sha>`, so the root of a snapshot is its cache repo folder.
 */
export async function enumerateCandidate(given: string, maxFiles: number): Promise<Candidate> {
  let s: Stats;
  try {
    s = await stat(given);
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw new LtrackError('bad_input', missing ? 'cannot read: no such file or folder' : `cannot read: ${(err as Error).message}`, { cause: err, file: given });
  }
  if (s.isFile()) {
    const source = await realpath(given);
    return { given, folder: false, root: dirname(source), files: [{ path: given, source, rel: basename(given) }], skipped: [] };
  }
  if (!s.isDirectory()) throw notRegular(given, s);
  const root = await realpath(given);
  const linkRoot = (await hfRepoOf(root)) ?? root;
  const files: CandidateFile[] = [];
  const skipped: SkippedFile[] = [];
  const stack = [''];
  while (stack.length > 0) {
    const relDir = stack.pop()!;
    let entries: Dirent[];
    try {
      entries = await readdir(join(root, relDir), { withFileTypes: true });
    } catch (err) {
      throw new LtrackError('bad_input', `cannot read folder: ${(err as Error).message}`, { cause: err, file: join(given, relDir) });
    }
    for (const e of entries) {
      const rel = relDir ? join(relDir, e.name) : e.name;
      const shown = join(given, rel);
      const real = join(root, rel);
      if (e.isDirectory()) {
        if (e.name === '.git') skipped.push({ path: shown, reason: 'git metadata folder, not part of the model', effect: 'none' });
        else stack.push(rel);
      } else if (e.isFile()) {
        files.push({ path: shown, source: real, rel });
      } else if (e.isSymbolicLink()) {
        const r = await resolveLink(real, shown, linkRoot);
        if ('reason' in r) skipped.push(r);
        else files.push({ path: shown, source: r.source, rel, linkTo: r.linkTo });
      } else {
        throw notRegular(shown, await lstat(real).catch(() => undefined));
      }
      if (files.length > maxFiles) throw new LtrackError('bad_input', `more than ${maxFiles} files`, { file: given });
    }
  }
  files.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  return { given, folder: true, root, files, skipped };
}

async function resolveLink(real: string, shown: string, linkRoot: string): Promise<{ source: string; linkTo: string } | SkippedFile> {
  const target = await readlink(real).catch(() => '?');
  let resolved: string;
  try {
    resolved = await realpath(real);
  } catch (err) {
    const loop = (err as NodeJS.ErrnoException).code === 'ELOOP';
    return { path: shown, reason: loop ? 'symlink loop; nothing to load' : 'dangling symlink; nothing to load', effect: 'none', target };
  }
  if (!inside(linkRoot, resolved)) {
    return { path: shown, reason: `symlink leaves the candidate (to ${target}): a loader would read bytes that were not vetted`, effect: 'finding', target };
  }
  const s = await stat(resolved);
  if (s.isFile()) return { source: resolved, linkTo: relative(linkRoot, resolved) };
  if (s.isDirectory()) return { path: shown, reason: `symlink to a folder (${target}); not followed, its files were not vetted under this name`, effect: 'incomplete', target };
  throw notRegular(shown, s);
}

function inside(root: string, p: string): boolean {
  return p === root || p.startsWith(root.endsWith(sep) ? root : root + sep);
}

/**
 * `<repo>/snapshots/<commit>` of a Hugging Face cache, or `<repo>/snapshots` (every commit): links
 * point into `<repo>/blobs`, so the repo is the root they may resolve within.
 */
async function hfRepoOf(root: string): Promise<string | undefined> {
  const repo = basename(root) === 'snapshots' ? dirname(root) : basename(dirname(root)) === 'snapshots' ? dirname(dirname(root)) : undefined;
  if (!repo) return undefined;
  const blobs = await stat(join(repo, 'blobs')).catch(() => undefined);
  return blobs?.isDirectory() ? repo : undefined;
}

/** Exit 2 before any read: a FIFO or a device would hang the vet or never end. */
export function notRegular(file: string, s: Stats | undefined): LtrackError {
  return new LtrackError('bad_input', `not a regular file or folder (${kindOf(s)}); nothing was read`, { file });
}

function kindOf(s: Stats | undefined): string {
  if (!s) return 'unknown file type';
  if (s.isFIFO()) return 'a FIFO';
  if (s.isSocket()) return 'a socket';
  if (s.isCharacterDevice()) return 'a character device';
  if (s.isBlockDevice()) return 'a block device';
  if (s.isSymbolicLink()) return 'a symlink';
  return 'unknown file type';
}
