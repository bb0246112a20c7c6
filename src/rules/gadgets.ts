import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse as parseToml } from 'smol-toml';
import { LtrackError } from '../core/errors.js';
import { projectPath } from '../core/paths.js';

/**
 * What a callable of the sandbox image's Python reaches within a bounded call depth, most severe
 * first. The order is the one severity follows when a callable reaches several.
 */
export const CAPABILITIES = ['process', 'code', 'native', 'import', 'file_write', 'socket'] as const;
export type Capability = (typeof CAPABILITIES)[number];

/** The committed table, derived from the image by `ltrack rules gadgets` (src/rules/gadgets-build.ts). */
export const GADGETS_FILE = projectPath('rules', 'gadgets.toml');

export interface GadgetHeader {
  generator: string;
  image_recipe: string;
  python: string;
  max_depth: number;
  files: number;
  modules: number;
  callables: number;
  gadgets: number;
  aliases: number;
  counts: Record<Capability, number>;
}

/** One derived gadget: every capability it reaches, each with its call path (callable first, primitive last). */
export interface Gadget {
  callable: string;
  /** The most severe capability it reaches. */
  capability: Capability;
  paths: Partial<Record<Capability, string[]>>;
}

/**
 * The gadget table: a Map from `module.qualname` (as find_class resolves it) to what it reaches.
 * Built once from the file; lookups are O(1).
 */
export class GadgetTable {
  private readonly parsed = new Map<string, Gadget>();

  private constructor(
    readonly header: GadgetHeader,
    /** Each callable's value as written, parsed on first lookup: a vet looks up a handful of names. */
    private readonly raw: Map<string, string>,
    private readonly aliases: Map<string, string>,
    readonly source: { file: string; sha256: string },
  ) {}

  get size(): number {
    return this.raw.size;
  }

  /**
   * The gadget `callable` names: itself, or through a module's re-export of it or of its class
   * (`pkg.Helper.run` where pkg re-exports pkg._impl.Helper). A few map lookups, no scan.
   */
  get(callable: string): Gadget | undefined {
    const direct = this.entry(callable);
    if (direct || this.aliases.size === 0) return direct;
    const parts = callable.split('.');
    for (let i = parts.length; i >= 2; i--) {
      const target = this.aliases.get(parts.slice(0, i).join('.'));
      if (target) return this.entry([target, ...parts.slice(i)].join('.'));
    }
    return undefined;
  }

  /** Parses every entry (what `ltrack rules gadgets` and the tests use to check a whole table). */
  validate(): void {
    for (const name of this.raw.keys()) this.entry(name);
    for (const [alias, target] of this.aliases) {
      if (!this.raw.has(target)) throw new LtrackError('rules_invalid', `the gadget table's alias "${alias}" names no gadget ("${target}")`, { file: this.source.file });
    }
  }

  private entry(name: string): Gadget | undefined {
    const done = this.parsed.get(name);
    if (done) return done;
    const value = this.raw.get(name);
    if (value === undefined) return undefined;
    const invalid = (why: string) => new LtrackError('rules_invalid', `the gadget table's entry "${name}" ${why}`, { file: this.source.file });
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(value.replace(/([{,] )([a-z_]+) = /g, '$1"$2": ')) as Record<string, unknown>;
    } catch {
      throw invalid('is not an inline table of call paths');
    }
    const paths: Partial<Record<Capability, string[]>> = {};
    for (const [cap, path] of Object.entries(entry)) {
      if (!(CAPABILITIES as readonly string[]).includes(cap) || !Array.isArray(path) || path.length < 2 || !path.every((p) => typeof p === 'string')) {
        throw invalid(`has ${cap}, which must be a capability with a call path of at least two names`);
      }
      paths[cap as Capability] = path;
    }
    const capability = CAPABILITIES.find((c) => paths[c]);
    if (!capability) throw invalid('names no capability');
    const g = { callable: name, capability, paths };
    this.parsed.set(name, g);
    return g;
  }

  /**
   * Reads the table. The [header] is TOML read by the TOML library; the [gadgets] and [aliases]
   * sections, tens of thousands of lines that `ltrack rules gadgets` writes one entry per line,
   * are split line by line with a strict grammar (a JSON-compatible TOML string key = an inline
   * table of string arrays, or a string) and each entry is parsed when first looked up: a general
   * TOML parser spends hundreds of milliseconds on them, a vet needs a handful. The file stays
   * TOML (test/gadgets checks that both readers agree).
   */
  static parse(text: string, file: string): GadgetTable {
    const invalid = (why: string) => new LtrackError('rules_invalid', `the gadget table ${why}`, { file });
    const body = text.search(/^\[gadgets\]$/m);
    if (body < 0) throw invalid('needs a [gadgets] table');
    let doc: Record<string, unknown>;
    try {
      doc = parseToml(text.slice(0, body));
    } catch (err) {
      throw new LtrackError('rules_invalid', `the gadget table's header is not valid TOML: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`, { cause: err, file });
    }
    const header = doc.header as GadgetHeader | undefined;
    if (!header || typeof header.image_recipe !== 'string') throw invalid('needs a [header] with image_recipe');
    const raw = new Map<string, string>();
    const aliases = new Map<string, string>();
    let section: 'gadgets' | 'aliases' = 'gadgets';
    const lines = text.slice(body).split('\n');
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      if (line === '' || line.startsWith('#')) continue;
      if (line === '[aliases]') {
        section = 'aliases';
        continue;
      }
      const eq = line.indexOf('" = ');
      if (!line.startsWith('"') || eq < 0) throw invalid(`line ${i + 1} of [${section}] is not \`"name" = value\``);
      const key = line.slice(0, eq + 1);
      // keys are dotted Python names: no escapes, so the common case needs no JSON.parse
      const name = key.includes('\\') ? (JSON.parse(key) as string) : key.slice(1, -1);
      const value = line.slice(eq + 4);
      if (section === 'gadgets') {
        raw.set(name, value);
        continue;
      }
      let target: unknown;
      try {
        target = JSON.parse(value);
      } catch {
        target = undefined;
      }
      if (typeof target !== 'string') throw invalid(`alias "${name}" must name a gadget`);
      aliases.set(name, target);
    }
    return new GadgetTable(header, raw, aliases, { file, sha256: createHash('sha256').update(text).digest('hex') });
  }
}

let cached: GadgetTable | undefined;
let cachedDigest: string | undefined;

/**
 * The table is one of the rules folder's files, so loading the rule set hashes it already
 * (4.5 MB: a tenth of a static vet's start-up): that digest is kept instead of hashing it again.
 */
export function rememberGadgetFileDigest(file: string, sha256: string): void {
  if (file === GADGETS_FILE) cachedDigest ??= sha256;
}

/** The sha256 of the bundled table's bytes (what a report pins), without parsing it. */
export function gadgetFileDigest(): string {
  if (cachedDigest === undefined) {
    try {
      cachedDigest = createHash('sha256').update(readFileSync(GADGETS_FILE)).digest('hex');
    } catch (err) {
      throw new LtrackError('rules_invalid', 'cannot read the gadget table (run `ltrack rules gadgets`)', { cause: err, file: GADGETS_FILE });
    }
  }
  return cachedDigest;
}

/** The bundled table, read and indexed on first use (only a pickle with globals off the allowlist needs it). */
export function defaultGadgets(): GadgetTable {
  if (!cached) cached = readGadgetTable(GADGETS_FILE);
  return cached;
}

export function readGadgetTable(file: string): GadgetTable {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new LtrackError('rules_invalid', 'cannot read the gadget table (run `ltrack rules gadgets`)', { cause: err, file });
  }
  return GadgetTable.parse(text, file);
}
