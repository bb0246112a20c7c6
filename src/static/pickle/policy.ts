import { readFileSync } from 'node:fs';
import { parse as parseToml } from 'smol-toml';
import { LtrackError } from '../../core/errors.js';
import { projectPath } from '../../core/paths.js';
import { sha256 } from '../../core/sha256.js';
import { defaultGadgets, gadgetFileDigest, type Capability, type GadgetTable } from '../../rules/gadgets.js';

/** What the globals policy says of one imported name (`path`: a derived gadget's call path). */
export type Classification = { kind: 'safe' } | { kind: 'dangerous'; rule: string; why: string; family: string; path?: string[] } | { kind: 'unknown' };

/**
 * Rules (rules/static-gadgets.toml) for a callable of the image that the derived gadget table
 * (rules/gadgets.toml) shows reaching a capability: one per capability, so severity follows what
 * it reaches.
 */
export const GADGET_RULES: Record<Capability, { rule: string; why: string }> = {
  process: { rule: 'LT-GDG-001', why: 'runs a process' },
  code: { rule: 'LT-GDG-002', why: 'executes code it is handed' },
  native: { rule: 'LT-GDG-003', why: 'loads a native library' },
  import: { rule: 'LT-GDG-004', why: 'imports a module it is handed' },
  file_write: { rule: 'LT-GDG-005', why: 'writes files' },
  socket: { rule: 'LT-GDG-006', why: 'opens sockets' },
};

/** How a deserialising callable reads its argument: as one pickle, or by content like torch.load. */
export type Deserialiser = 'pickle' | 'content';

interface PolicyFile {
  safe: Record<string, string[]>;
  safe_class_modules: { prefixes: string[] };
  dangerous: Record<string, { rule: string; why: string; names: string[] }>;
  deserialisers?: Record<string, string>;
  invokes_arguments?: Record<string, number[]>;
}

/** A user's extension of the allowlist (`ltrack vet --allow-globals FILE`): a [safe] table only. */
interface AllowFile {
  safe: Record<string, string[]>;
}

/** A file the policy was read from, with the sha256 of its bytes (reports and manifests pin it). */
export interface PolicySource {
  file: string;
  sha256: string;
}

/** One [safe] entry: a module (or, for `mod.*`, a module and its submodules) and its names ("*" = all). */
interface SafeEntry {
  module: string;
  submodules: boolean;
  names: Set<string> | '*';
}

/** Attribute hops through interpreter internals reach builtins, globals and code objects from anything. */
const DUNDER = /^__\w+__$/;
const INTERNALS: Classification = { kind: 'dangerous', rule: 'LT-PKL-006', why: 'walks interpreter internals (a dunder attribute) to reach other objects', family: 'code' };

/**
 * The globals policy of rules/pickle-globals.toml, allowlist first: a dangerous entry wins over a
 * safe one (deny beats allow), then safe entries and safe class modules pass, and everything else is
 * unknown.
 *
 * From protocol 4, find_class resolves a dotted name `a.b.c` by getattr from the module, hop by hop,
 * so the object reached can be anything importable from that module's globals. A dotted name is
 * therefore safe only if every hop (`module.a`, `module.a.b`, `module.a.b.c`) is: the first hop may
 * be covered by a wildcard ("*", `mod.*`) or a class module, deeper hops only by an exact entry.
 * On the deny side, a dotted name is dangerous when any run of its components that ends in an
 * attribute hop names a dangerous object (`m.torch.os.system` reaches `os.system`,
 * `m.builtins.exec` reaches `builtins.exec`) or when a hop is a dunder attribute.
 */
export class GlobalsPolicy {
  private readonly safe: SafeEntry[] = [];
  private readonly classPrefixes: string[];
  private readonly dangerExact = new Map<string, Classification>();
  private readonly dangerPrefixes: [string, Classification][] = [];
  private readonly deserialisers = new Map<string, Deserialiser>();
  private readonly invokes = new Map<string, number[]>();
  private readonly doc: PolicyFile;

  /**
   * `gadgets` supplies the derived gadget table on first need (undefined: none); by default the
   * bundled rules/gadgets.toml, read only when a name is off the exact allowlist.
   */
  constructor(
    doc: PolicyFile,
    file: string,
    readonly sources: readonly PolicySource[] = [],
    readonly gadgets: () => GadgetTable | undefined = defaultGadgets,
  ) {
    // the TOML is checked here, not trusted to have the type it was cast to
    const tables = doc as Partial<PolicyFile>;
    if (typeof tables.safe !== 'object' || typeof tables.dangerous !== 'object' || !Array.isArray(tables.safe_class_modules?.prefixes)) {
      throw new LtrackError('rules_invalid', 'pickle globals policy needs [safe], [safe_class_modules] and [dangerous.*] tables', { file });
    }
    this.addSafe(doc.safe, file);
    this.classPrefixes = doc.safe_class_modules.prefixes;
    for (const [family, entry] of Object.entries(doc.dangerous)) {
      if (!/^LT-PKL-\d{3}$/.test(entry.rule) || !Array.isArray(entry.names)) throw new LtrackError('rules_invalid', `dangerous.${family} needs a rule id and names`, { file });
      const v: Classification = { kind: 'dangerous', rule: entry.rule, why: entry.why, family };
      for (const n of entry.names) {
        if (n.endsWith('.*')) this.dangerPrefixes.push([n.slice(0, -1), v]);
        else this.dangerExact.set(n, v);
      }
    }
    for (const [callable, how] of Object.entries(doc.deserialisers ?? {})) {
      if (how !== 'pickle' && how !== 'content') throw new LtrackError('rules_invalid', `deserialisers.${callable} must be "pickle" or "content"`, { file });
      this.deserialisers.set(callable, how);
    }
    for (const [callable, positions] of Object.entries(doc.invokes_arguments ?? {})) {
      if (!Array.isArray(positions) || !positions.every((i) => Number.isInteger(i) && i >= 0))
        throw new LtrackError('rules_invalid', `invokes_arguments.${callable} must list argument positions`, { file });
      this.invokes.set(callable, positions);
    }
    this.doc = doc;
  }

  /** This policy with a user's [safe] table added (its dangerous entries still win), and its digest recorded. */
  extend(user: AllowFile, source: PolicySource): GlobalsPolicy {
    const safe: Record<string, string[]> = { ...this.doc.safe };
    for (const [module, names] of Object.entries(user.safe)) safe[module] = [...(safe[module] ?? []), ...names];
    return new GlobalsPolicy({ ...this.doc, safe }, source.file, [...this.sources, source], this.gadgets);
  }

  private addSafe(table: Record<string, unknown>, file: string): void {
    for (const [key, names] of Object.entries(table)) {
      if (!Array.isArray(names) || !names.every((n) => typeof n === 'string')) throw new LtrackError('rules_invalid', `safe.${key} must be a list of names`, { file });
      const submodules = key.endsWith('.*');
      const module = submodules ? key.slice(0, -2) : key;
      const entry: SafeEntry = { module, submodules, names: names.includes('*') ? '*' : new Set(names) };
      this.safe.push(entry);
    }
  }

  /**
   * How `module.name` deserialises its first argument, when it is a loader (torch.load, pickle.loads,
   * …); a dotted name is looked up by every run of components its hops can reach, like dangerOf.
   */
  deserialiser(module: string, name: string): Deserialiser | undefined {
    return this.reachable(module, name, (path) => this.deserialisers.get(path));
  }

  /** Argument positions that the safe helper `module.name` calls (copyreg._reconstructor calls its base's __init__). */
  invokedArguments(module: string, name: string): number[] {
    return this.invokes.get(`${module}.${name}`) ?? [];
  }

  /** The first hit of `lookup` over the whole path and, for a dotted name, every run of components ending at an attribute hop. */
  private reachable<T>(module: string, name: string, lookup: (path: string) => T | undefined): T | undefined {
    const whole = lookup(`${module}.${name}`);
    if (whole !== undefined || !name.includes('.')) return whole;
    const mods = module.split('.');
    const parts = [...mods, ...name.split('.')];
    for (let j = mods.length + 1; j <= parts.length; j++) {
      for (let i = 0; i <= j - 2; i++) {
        const hit = lookup(parts.slice(i, j).join('.'));
        if (hit !== undefined) return hit;
      }
    }
    return undefined;
  }

  /**
   * Deny beats allow, and an exact allow beats the derived gadget table: hand-written entries are
   * reviewed, the table over-approximates (any call site counts). A name admitted only by a
   * wildcard ("*", `mod.*`, a class module) was never reviewed one by one, so the table still
   * classifies it; what neither admits nor the table knows is unknown.
   */
  classify(module: string, name: string): Classification {
    const danger = this.dangerOf(module, name);
    if (danger) return danger;
    const hops = name.split('.');
    let exact = true;
    // every hop must be allowed; only the first (a plain name) may be covered by a wildcard
    for (let k = 1; k <= hops.length; k++) {
      const how = this.safeHop(module, hops.slice(0, k).join('.'), k === 1);
      if (!how) return this.gadgetOf(module, name) ?? { kind: 'unknown' };
      if (how === 'wildcard') exact = false;
    }
    return exact ? { kind: 'safe' } : (this.gadgetOf(module, name) ?? { kind: 'safe' });
  }

  private safeHop(module: string, name: string, wildcardsApply: boolean): 'exact' | 'wildcard' | undefined {
    let wildcard = false;
    for (const e of this.safe) {
      const moduleMatches = module === e.module || (e.submodules && module.startsWith(`${e.module}.`));
      if (!moduleMatches) continue;
      if (e.names === '*') wildcard ||= wildcardsApply;
      else if (e.names.has(name)) return 'exact';
    }
    if (wildcard) return 'wildcard';
    return wildcardsApply && /^[A-Z][A-Za-z0-9_]*$/.test(name) && this.classPrefixes.some((p) => module.startsWith(p)) ? 'wildcard' : undefined;
  }

  /** The derived gadget table's entry for the name (or for an object its hops reach), as a verdict. */
  private gadgetOf(module: string, name: string): Classification | undefined {
    const table = this.gadgets();
    if (!table) return undefined;
    const g = this.reachable(module, name, (path) => table.get(path));
    if (!g) return undefined;
    const path = g.paths[g.capability]!;
    const { rule, why } = GADGET_RULES[g.capability];
    return { kind: 'dangerous', rule, why: `${why}: ${path.join(' -> ')} (derived gadget table)`, family: `gadget:${g.capability}`, path };
  }

  private dangerOf(module: string, name: string): Classification | undefined {
    const lookup = (path: string) => this.dangerExact.get(path) ?? this.dangerPrefixes.find(([p]) => path.startsWith(p))?.[1];
    if (name.split('.').length > 1 && name.split('.').some((h) => DUNDER.test(h))) return lookup(`${module}.${name}`) ?? INTERNALS;
    return this.reachable(module, name, lookup);
  }
}

let cached: GlobalsPolicy | undefined;

export function defaultPolicy(): GlobalsPolicy {
  if (!cached) cached = loadPolicy(projectPath('rules', 'pickle-globals.toml'));
  return cached;
}

export function loadPolicy(file: string, gadgets: () => GadgetTable | undefined = defaultGadgets): GlobalsPolicy {
  const { doc, source } = readToml(file, 'the pickle globals policy');
  try {
    return new GlobalsPolicy(doc as unknown as PolicyFile, file, [source], gadgets);
  } catch (err) {
    if (err instanceof LtrackError) throw err;
    throw new LtrackError('rules_invalid', `pickle globals policy is not valid: ${String(err)}`, { cause: err, file });
  }
}

/**
 * A user's allowlist extension (`--allow-globals FILE`): the [safe] shape of rules/pickle-globals.toml
 * and nothing else, so a user can admit globals but never un-deny one. Added to `base`.
 */
export function withUserAllowlist(base: GlobalsPolicy, file: string): GlobalsPolicy {
  const { doc, source } = readToml(file, 'the globals allowlist');
  const keys = Object.keys(doc);
  if (typeof doc.safe !== 'object' || doc.safe === null || Array.isArray(doc.safe) || keys.some((k) => k !== 'safe')) {
    throw new LtrackError('bad_input', 'a globals allowlist has one [safe] table ("module" = ["name", …]) and nothing else', { file });
  }
  for (const [module, names] of Object.entries(doc.safe as Record<string, unknown>)) {
    if (!Array.isArray(names) || !names.every((n) => typeof n === 'string' && n.length > 0)) throw new LtrackError('bad_input', `safe."${module}" must be a list of names`, { file });
  }
  try {
    return base.extend(doc as unknown as AllowFile, source);
  } catch (err) {
    throw err instanceof LtrackError ? new LtrackError('bad_input', err.message, { cause: err, file }) : err;
  }
}

function readToml(file: string, what: string): { doc: Record<string, unknown>; source: PolicySource } {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new LtrackError('bad_input', `cannot read ${what}`, { cause: err, file });
  }
  try {
    return { doc: parseToml(bytes.toString('utf8')), source: { file, sha256: sha256(bytes) } };
  } catch (err) {
    throw new LtrackError('rules_invalid', `${what} is not valid TOML: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`, { cause: err, file });
  }
}

/**
 * The rule set's digest extended with every globals policy file in force (the default table and a
 * user's --allow-globals file, by their sha256, in order): what a report and a manifest pin, so
 * production knows which globals the vet admitted.
 */
export function digestWithPolicy(rulesDigest: string, policy: GlobalsPolicy): string {
  // the gadget table classifies too: its bytes are pinned whether or not this vet needed it
  const table = policy.gadgets === defaultGadgets ? { sha256: gadgetFileDigest() } : policy.gadgets()?.source;
  return sha256(`rules\0${rulesDigest}\0`, ...policy.sources.map((s) => `globals\0${s.sha256}\0`), ...(table ? [`gadgets\0${table.sha256}\0`] : []));
}
