import { readFileSync } from 'node:fs';
import { projectPath } from '../core/paths.js';

/**
 * Name confusion: a dependency whose name is one edit (insert, delete, substitute, swap of
 * neighbours) away from a well-known package, or a well-known name with a decorating prefix or
 * suffix (`python-`, `-python`, `py`, `-dev`, ...), but not that package itself. Typosquats of
 * popular ML packages (`pytorch`, `nunpy`, `tranformers`) are how hostile code reaches a lock.
 * The well-known list is data in rules/popular-packages.txt so users extend it.
 */
const POPULAR_FILE = projectPath('rules', 'popular-packages.txt');

/** PEP 503 normalisation (conda names are compared the same way). */
const normalizeName = (name: string): string => name.toLowerCase().replace(/[-_.]+/g, '-');

let popular: Set<string> | undefined;
function popularNames(): Set<string> {
  popular ??= new Set(
    readFileSync(POPULAR_FILE, 'utf8')
      .split('\n')
      .map((l) => l.replace(/#.*/, '').trim())
      .filter(Boolean)
      .map(normalizeName),
  );
  return popular;
}

const DECORATIONS = [/^python-/, /-python$/, /^py-?/, /-?py$/, /-(dev|devel|nightly|latest|official|lib|sdk)$/, /^(the-)/];

/** The well-known package `name` imitates, or undefined when it is one (or resembles none). */
export function confusableWith(name: string): string | undefined {
  const n = normalizeName(name);
  const known = popularNames();
  if (known.has(n)) return undefined;
  for (const re of DECORATIONS) {
    const bare = n.replace(re, '');
    if (bare !== n && bare.length >= 3 && known.has(bare)) return bare;
  }
  if (n.length < 4) return undefined; // short names are one edit from too much
  for (const k of known) if (Math.abs(k.length - n.length) <= 1 && k.length >= 4 && oneEditApart(n, k)) return k;
  return undefined;
}

/** Damerau distance exactly 1 (with adjacent transposition), without building a matrix. */
function oneEditApart(a: string, b: string): boolean {
  if (a === b) return false;
  if (a.length === b.length) {
    const diff: number[] = [];
    for (let i = 0; i < a.length && diff.length <= 2; i++) if (a[i] !== b[i]) diff.push(i);
    if (diff.length === 1) return true;
    return diff.length === 2 && diff[1] === diff[0]! + 1 && a[diff[0]!] === b[diff[1]] && a[diff[1]] === b[diff[0]!];
  }
  const [s, l] = a.length < b.length ? [a, b] : [b, a];
  let i = 0;
  while (i < s.length && s[i] === l[i]) i++;
  return s.slice(i) === l.slice(i + 1);
}
