import type { Detection } from '../core/finding.js';
import { lockKind } from './kind.js';
import { analyseCondaLock } from './conda.js';
import { analyseRequirements } from './pip.js';

export { analyseRequirements } from './pip.js';
export { analyseCondaLock } from './conda.js';
export { confusableWith } from './names.js';

/** Lock checks for a dependency set (--deps), by the lock's kind, before anything is installed. */
export function analyseLock(path: string): Promise<Detection[]> {
  return lockKind(path) === 'conda' ? analyseCondaLock(path) : analyseRequirements(path);
}
