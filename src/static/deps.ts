import { readFile } from 'node:fs/promises';
import type { Detection } from '../core/finding.js';
import { wrapError } from '../core/errors.js';

/** Package indexes a lock may name; anything else is a foreign index (dependency confusion, typosquats). */
const ALLOWED_INDEXES = [/^https:\/\/pypi\.org\/simple\/?$/, /^https:\/\/files\.pythonhosted\.org\//];

/**
 * Static checks of a pip requirements/lock file before anything is installed: every requirement
 * pinned with `==`, every requirement hashed (pip then refuses anything else, even offline), and no
 * index or find-links URL outside the allowlist. One detection per problem line.
 */
export async function analyseRequirements(path: string): Promise<Detection[]> {
  const text = await readFile(path, 'utf8').catch((err: unknown) => Promise.reject(wrapError(err, 'bad_input', 'cannot read', path)));
  const out: Detection[] = [];
  const d = (ruleId: string, line: number, message: string, evidence: Record<string, unknown>): Detection => ({
    ruleId,
    source: 'static',
    phase: 'static',
    message,
    evidence,
    location: { file: path, byteOffset: offsetOfLine(text, line) },
  });
  // Continuation lines ("\\\n") belong to the requirement they continue.
  const lines = text.replace(/\\\r?\n/g, ' ').split('\n');
  lines.forEach((raw, i) => {
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    if (!line) return;
    const url = /^(?:--index-url|-i|--extra-index-url|--find-links|-f)[\s=]+(\S+)/.exec(line)?.[1];
    if (url !== undefined) {
      if (/^https?:\/\//.test(url) && !ALLOWED_INDEXES.some((re) => re.test(url))) out.push(d('LT-DEP-003', i, `index or find-links outside the allowlist: ${url}`, { url }));
      return;
    }
    if (line.startsWith('-')) return; // other options (-r, --require-hashes, ...)
    const name = /^([A-Za-z0-9][A-Za-z0-9._-]*)/.exec(line)?.[1] ?? line;
    if (!/==\s*[^\s;,*]+/.test(line) || /==[^\s]*\*/.test(line)) out.push(d('LT-DEP-001', i, `${name} is not pinned to one version`, { requirement: name }));
    if (!/--hash=sha256:[0-9a-f]{64}/.test(line)) out.push(d('LT-DEP-002', i, `${name} has no sha256 hash`, { requirement: name }));
  });
  return out;
}

function offsetOfLine(text: string, line: number): number {
  let off = 0;
  for (let i = 0; i < line; i++) off = text.indexOf('\n', off) + 1;
  return off;
}
