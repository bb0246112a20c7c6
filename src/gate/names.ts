import { LtrackError } from '../core/errors.js';

/**
 * Names that reach the file system and URLs from the Hub or from a client of the gate's proxy:
 * repo ids, revisions and file paths. Each is checked against what the Hub itself allows, so none
 * can climb out of the registry (`..`, absolute paths, NUL, backslashes) or forge a URL segment.
 */

// The Hub's own rule: [org/]name, letters, digits, '-', '_', '.', at most 96 characters, no '--' or '..'.
const REPO_ID = /^(?:[A-Za-z0-9][A-Za-z0-9_.-]*\/)?[A-Za-z0-9][A-Za-z0-9_.-]*$/;
// Branches, tags and refs/pr/N; never a path that climbs.
const REVISION = /^[A-Za-z0-9][A-Za-z0-9_.\-/]*$/;
const COMMIT = /^[0-9a-f]{40}$/;

export function checkRepoId(id: string): string {
  if (id.length > 96 || !REPO_ID.test(id) || id.includes('--') || id.includes('..')) throw new LtrackError('usage', `not a Hugging Face repo id: ${JSON.stringify(id)}`);
  return id;
}

export function checkRevision(rev: string): string {
  if (rev.length > 255 || !REVISION.test(rev) || rev.split('/').some((s) => s === '' || s === '.' || s === '..') || rev.endsWith('.lock')) {
    throw new LtrackError('usage', `not a revision: ${JSON.stringify(rev)}`);
  }
  return rev;
}

export function isCommit(rev: string): boolean {
  return COMMIT.test(rev);
}

/** A file path inside a snapshot: relative, '/'-separated, no empty, '.' or '..' segment, no NUL or backslash. */
export function checkRepoPath(path: string): string {
  const bad = path.length === 0 || path.length > 1024 || path.startsWith('/') || /[\0\\]/.test(path) || path.split('/').some((s) => s === '' || s === '.' || s === '..');
  if (bad) throw new LtrackError('bad_input', `unsafe file path in the repository: ${JSON.stringify(path)}`);
  return path;
}

/** The Hugging Face cache folder of a model repo: `models--ORG--NAME`. */
export function cacheFolder(repo: string): string {
  return `models--${repo.replace('/', '--')}`;
}

/** `ORG/NAME@REVISION` (or without a revision: main). */
export function parseRepoRef(ref: string): { repo: string; revision: string } {
  const at = ref.lastIndexOf('@');
  const repo = at < 0 ? ref : ref.slice(0, at);
  const revision = at < 0 ? 'main' : ref.slice(at + 1);
  return { repo: checkRepoId(repo), revision: checkRevision(revision) };
}
