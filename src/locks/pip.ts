import { readFile } from 'node:fs/promises';
import type { Detection } from '../core/finding.js';
import { wrapError } from '../core/errors.js';
import { lockDetection } from './detection.js';
import { confusableWith } from './names.js';

/** Package indexes a lock may name; anything else is a foreign index (dependency confusion, typosquats). */
const ALLOWED_INDEXES = [/^https:\/\/pypi\.org\/simple\/?$/, /^https:\/\/files\.pythonhosted\.org\//];

/**
 * Static checks of a pip requirements/lock file before anything is installed: every requirement
 * pinned with `==`, every requirement hashed (pip then refuses anything else, even offline), no
 * index or find-links URL outside the allowlist, and no name imitating a well-known package.
 * One detection per problem line.
 */
export async function analyseRequirements(path: string): Promise<Detection[]> {
  const text = await readFile(path, 'utf8').catch((err: unknown) => Promise.reject(wrapError(err, 'bad_input', 'cannot read', path)));
  const out: Detection[] = [];
  const d = (ruleId: string, line: number, message: string, evidence: Record<string, unknown>) => out.push(lockDetection(path, text, line, ruleId, message, evidence));
  // Continuation lines ("\\\n") belong to the requirement they continue; keep line numbers by
  // leaving the joined line where it started.
  const lines = text.replace(/\\\r?\n/g, ' ').split('\n');
  lines.forEach((raw, i) => {
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    if (!line) return;
    const url = /^(?:--index-url|-i|--extra-index-url|--find-links|-f)[\s=]+(\S+)/.exec(line)?.[1];
    if (url !== undefined) {
      if (/^https?:\/\//.test(url) && !ALLOWED_INDEXES.some((re) => re.test(url))) d('LT-DEP-003', i, `index or find-links outside the allowlist: ${url}`, { url });
      return;
    }
    if (line.startsWith('-')) return; // other options (-r, --require-hashes, ...)
    const name = /^([A-Za-z0-9][A-Za-z0-9._-]*)/.exec(line)?.[1] ?? line;
    if (!/==\s*[^\s;,*]+/.test(line) || /==[^\s]*\*/.test(line)) d('LT-DEP-001', i, `${name} is not pinned to one version`, { requirement: name });
    if (!/--hash=sha256:[0-9a-f]{64}/.test(line)) d('LT-DEP-002', i, `${name} has no sha256 hash`, { requirement: name });
    const like = confusableWith(name);
    if (like) d('LT-DEP-004', i, `${name} imitates the well-known package ${like}`, { requirement: name, imitates: like });
  });
  return out;
}
