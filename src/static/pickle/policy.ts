import { readFileSync } from 'node:fs';
import { parse as parseToml } from 'smol-toml';
import { LtrackError } from '../../core/errors.js';
import { projectPath } from '../../core/paths.js';

export type Verdict = { kind: 'safe' } | { kind: 'dangerous'; rule: string; why: string; family: string } | { kind: 'unknown' };

interface PolicyFile {
  safe: Record<string, string[]>;
  safe_class_modules: { prefixes: string[] };
  dangerous: Record<string, { rule: string; why: string; names: string[] }>;
}

/**
 * The globals policy of rules/pickle-globals.toml, allowlist first: a dangerous entry wins over a
 * safe one (deny beats allow), then safe entries and safe class modules pass, and everything else is
 * unknown. Names are matched on the full dotted path `module.name` (protocol 4 allows dotted names).
 */
export class GlobalsPolicy {
  private readonly safeExact = new Set<string>();
  private readonly safePrefixes: string[] = [];
  private readonly classPrefixes: string[];
  private readonly dangerExact = new Map<string, Verdict>();
  private readonly dangerPrefixes: [string, Verdict][] = [];

  constructor(doc: PolicyFile, file: string) {
    if (typeof doc.safe !== 'object' || typeof doc.dangerous !== 'object' || !Array.isArray(doc.safe_class_modules?.prefixes)) {
      throw new LtrackError('rules_invalid', 'pickle globals policy needs [safe], [safe_class_modules] and [dangerous.*] tables', { file });
    }
    for (const [module, names] of Object.entries(doc.safe)) {
      for (const name of names) {
        if (module.endsWith('.*')) this.safePrefixes.push(module.slice(0, -1));
        else if (name === '*') this.safePrefixes.push(`${module}.`);
        else this.safeExact.add(`${module}.${name}`);
      }
    }
    this.classPrefixes = doc.safe_class_modules.prefixes;
    for (const [family, entry] of Object.entries(doc.dangerous)) {
      if (!/^LT-PKL-\d{3}$/.test(entry.rule) || !Array.isArray(entry.names)) throw new LtrackError('rules_invalid', `dangerous.${family} needs a rule id and names`, { file });
      const v: Verdict = { kind: 'dangerous', rule: entry.rule, why: entry.why, family };
      for (const n of entry.names) {
        if (n.endsWith('.*')) this.dangerPrefixes.push([n.slice(0, -1), v]);
        else this.dangerExact.set(n, v);
      }
    }
  }

  classify(module: string, name: string): Verdict {
    const full = `${module}.${name}`;
    const danger = this.dangerExact.get(full) ?? this.dangerPrefixes.find(([p]) => full.startsWith(p))?.[1];
    if (danger) return danger;
    if (this.safeExact.has(full) || this.safePrefixes.some((p) => full.startsWith(p))) return { kind: 'safe' };
    if (/^[A-Z][A-Za-z0-9_]*$/.test(name) && this.classPrefixes.some((p) => module.startsWith(p))) return { kind: 'safe' };
    return { kind: 'unknown' };
  }
}

let cached: GlobalsPolicy | undefined;

export function defaultPolicy(): GlobalsPolicy {
  if (!cached) cached = loadPolicy(projectPath('rules', 'pickle-globals.toml'));
  return cached;
}

export function loadPolicy(file: string): GlobalsPolicy {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new LtrackError('bad_input', 'cannot read the pickle globals policy', { cause: err, file });
  }
  try {
    return new GlobalsPolicy(parseToml(text) as unknown as PolicyFile, file);
  } catch (err) {
    if (err instanceof LtrackError) throw err;
    throw new LtrackError('rules_invalid', `pickle globals policy is not valid TOML: ${String(err)}`, { cause: err, file });
  }
}
