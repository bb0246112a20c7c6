import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import type { Detection } from '../core/finding.js';
import { wrapError } from '../core/errors.js';
import { lineOf, lockDetection } from './detection.js';
import { confusableWith } from './names.js';

/** Channels a conda lock may fetch from: the public defaults and conda-forge, or a local folder. */
const ALLOWED_CHANNELS = [/^https:\/\/conda\.anaconda\.org\/conda-forge\//, /^https:\/\/repo\.anaconda\.com\/pkgs\/(main|free|r)\//, /^file:\/\//];
const allowedChannel = (url: string) => ALLOWED_CHANNELS.some((re) => re.test(url));
/** In environment.yml, channels are names or URLs. */
const ALLOWED_CHANNEL_NAMES = new Set(['conda-forge', 'defaults', 'main', 'nodefaults']);

/**
 * Static checks of a conda lock before anything is installed, in each of the three forms the
 * harness installs: `@EXPLICIT` lists (an archive URL with #md5 or #sha256 per line),
 * conda-lock.yml (package entries with url and hash) and environment.yml (name=version specs).
 * The same rules as for pip: unpinned (LT-DEP-001), unhashed (LT-DEP-002), a channel outside the
 * allowlist (LT-DEP-003), a name imitating a well-known package (LT-DEP-004).
 */
export async function analyseCondaLock(path: string): Promise<Detection[]> {
  const text = await readFile(path, 'utf8').catch((err: unknown) => Promise.reject(wrapError(err, 'bad_input', 'cannot read', path)));
  if (/^@EXPLICIT\s*$/m.test(text)) return explicitList(path, text);
  let doc: unknown;
  try {
    doc = parseYaml(text, { maxAliasCount: 100 });
  } catch (err) {
    throw wrapError(err, 'bad_input', 'not a conda lock (@EXPLICIT list, conda-lock.yml or environment.yml): YAML does not parse', path);
  }
  if (isRecord(doc) && Array.isArray(doc.package)) return condaLockYml(path, text, doc.package);
  if (isRecord(doc) && Array.isArray(doc.dependencies)) return environmentYml(path, text, doc);
  throw wrapError(undefined, 'bad_input', 'not a conda lock: neither an @EXPLICIT list, a conda-lock.yml (package:) nor an environment.yml (dependencies:)', path);
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `<channel>/<subdir>/<name>-<version>-<build>.conda|.tar.bz2` -> name */
const archiveName = (url: string): string => (url.split('/').pop() ?? url).replace(/\.(conda|tar\.bz2)$/, '').replace(/-[^-]+-[^-]+$/, '');

function explicitList(path: string, text: string): Detection[] {
  const out: Detection[] = [];
  let seen = false;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '@EXPLICIT') seen = true;
    if (!seen || !line || line.startsWith('#') || line.startsWith('@')) return;
    const [url = '', digest = ''] = line.split('#');
    const name = archiveName(url);
    if (!allowedChannel(url)) out.push(lockDetection(path, text, i, 'LT-DEP-003', `channel outside the allowlist: ${url}`, { url }));
    if (!/^([0-9a-f]{32}|(sha256:)?[0-9a-f]{64})$/.test(digest)) out.push(lockDetection(path, text, i, 'LT-DEP-002', `${name} has no md5 or sha256 hash`, { requirement: name }));
    const like = confusableWith(name);
    if (like) out.push(lockDetection(path, text, i, 'LT-DEP-004', `${name} imitates the well-known package ${like}`, { requirement: name, imitates: like }));
  });
  return out;
}

function condaLockYml(path: string, text: string, packages: unknown[]): Detection[] {
  const out: Detection[] = [];
  let from = 0;
  for (const pkg of packages) {
    if (!isRecord(pkg)) continue;
    const name = typeof pkg.name === 'string' ? pkg.name : '(unnamed)';
    const url = typeof pkg.url === 'string' ? pkg.url : '';
    const line = (from = lineOf(text, `name: ${name}`, from));
    const hash = isRecord(pkg.hash) ? pkg.hash : {};
    const manager = pkg.manager ?? 'conda';
    if (manager === 'conda' && !allowedChannel(url))
      out.push(lockDetection(path, text, line, 'LT-DEP-003', `${name} comes from a channel outside the allowlist: ${url || '(no url)'}`, { requirement: name, url }));
    if (typeof hash.sha256 !== 'string' && typeof hash.md5 !== 'string') out.push(lockDetection(path, text, line, 'LT-DEP-002', `${name} has no md5 or sha256 hash`, { requirement: name }));
    const like = confusableWith(name);
    if (like) out.push(lockDetection(path, text, line, 'LT-DEP-004', `${name} imitates the well-known package ${like}`, { requirement: name, imitates: like }));
  }
  return out;
}

function environmentYml(path: string, text: string, doc: Record<string, unknown>): Detection[] {
  const out: Detection[] = [];
  for (const channel of Array.isArray(doc.channels) ? doc.channels : []) {
    if (typeof channel !== 'string') continue;
    const ok = /^[a-z]+:\/\//.test(channel) ? allowedChannel(channel.endsWith('/') ? channel : `${channel}/`) : ALLOWED_CHANNEL_NAMES.has(channel);
    if (!ok) out.push(lockDetection(path, text, lineOf(text, channel), 'LT-DEP-003', `channel outside the allowlist: ${channel}`, { url: channel }));
  }
  let from = 0;
  for (const dep of doc.dependencies as unknown[]) {
    if (typeof dep !== 'string') continue; // a nested `pip:` list: pip's business
    const line = (from = lineOf(text, dep, from));
    const [, name = dep, version] = /^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:==?\s*([^\s=]+))?/.exec(dep) ?? [];
    if (!version || version.includes('*')) out.push(lockDetection(path, text, line, 'LT-DEP-001', `${name} is not pinned to one version`, { requirement: name }));
    // an environment file cannot carry hashes: the archives it resolves to are not bound to bytes
    out.push(lockDetection(path, text, line, 'LT-DEP-002', `${name} has no hash (environment.yml cannot pin bytes; use conda-lock or @EXPLICIT)`, { requirement: name }));
    const like = confusableWith(name);
    if (like) out.push(lockDetection(path, text, line, 'LT-DEP-004', `${name} imitates the well-known package ${like}`, { requirement: name, imitates: like }));
  }
  return out;
}
