import { basename } from 'node:path';

/**
 * Which installer a dependency lock is for: pip requirements/lock unless the file is a conda
 * lock (conda-lock.yml, environment.yml, an @EXPLICIT list). By name, because the harness must
 * know before it reads anything; the lock checks then parse it by content.
 */
export function lockKind(path: string): 'pip' | 'conda' {
  const name = basename(path).toLowerCase();
  return /conda|environment\.ya?ml$|\.ya?ml$|explicit/.test(name) ? 'conda' : 'pip';
}
