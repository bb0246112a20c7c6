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
  private constructor(
    readonly header: GadgetHeader,
    private readonly byName: Map<string, Gadget>,
    private readonly aliases: Map<string, string>,
    readonly source: { file: string; sha256: string },
  ) {}

  get size(): number {
    return this.byName.size;
  }

  /**
   * The gadget `callable` names: itself, or through a module's re-export of it or of its class
   * (`pkg.Helper.run` where pkg re-exports pkg._impl.Helper). A few map lookups, no scan.
   */
  get(callable: string): Gadget | undefined {
    const direct = this.byName.get(callable);
    if (direct || this.aliases.size === 0) return direct;
    const parts = callable.split('.');
    for (let i = parts.length; i >= 2; i--) {
      const target = this.aliases.get(parts.slice(0, i).join('.'));
      if (target) return this.byName.get([target, ...parts.slice(i)].join('.'));
    }
    return undefined;
  }

  static parse(text: string, file: string): GadgetTable {
    let doc: Record<string, unknown>;
    try {
      doc = parseToml(text);
    } catch (err) {
      throw new LtrackError('rules_invalid', `the gadget table is not valid TOML: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`, { cause: err, file });
    }
    const header = doc.header as GadgetHeader | undefined;
    const gadgets = doc.gadgets as Record<string, Record<string, unknown>> | undefined;
    if (!header || typeof header.image_recipe !== 'string' || typeof gadgets !== 'object' || gadgets === null) {
      throw new LtrackError('rules_invalid', 'the gadget table needs a [header] with image_recipe and a [gadgets] table', { file });
    }
    const byName = new Map<string, Gadget>();
    for (const [callable, entry] of Object.entries(gadgets)) {
      const paths: Partial<Record<Capability, string[]>> = {};
      for (const [cap, path] of Object.entries(entry)) {
        if (!(CAPABILITIES as readonly string[]).includes(cap) || !Array.isArray(path) || path.length < 2 || !path.every((p) => typeof p === 'string')) {
          throw new LtrackError('rules_invalid', `gadgets."${callable}".${cap} must be a capability with a call path of at least two names`, { file });
        }
        paths[cap as Capability] = path as string[];
      }
      const capability = CAPABILITIES.find((c) => paths[c]);
      if (!capability) throw new LtrackError('rules_invalid', `gadgets."${callable}" names no capability`, { file });
      byName.set(callable, { callable, capability, paths });
    }
    const aliases = new Map<string, string>();
    for (const [alias, target] of Object.entries((doc.aliases ?? {}) as Record<string, unknown>)) {
      if (typeof target !== 'string') throw new LtrackError('rules_invalid', `aliases."${alias}" must name a gadget`, { file });
      aliases.set(alias, target);
    }
    return new GadgetTable(header, byName, aliases, { file, sha256: createHash('sha256').update(text).digest('hex') });
  }
}

let cached: GadgetTable | undefined;
let cachedDigest: string | undefined;

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
