import type { Detection } from '../core/finding.js';
import { analyseTemplate, isInternalName } from './template.js';

/**
 * Where chat templates live, and what each carrier is called as a format (the sandbox renders
 * them: sandbox/lth/templates.py). transformers opens these by name, not by content:
 * tokenizer_config.json (and a processor's chat_template.json) holds `chat_template`, a string or
 * a list of {name, template}; chat_template.jinja (and additional_chat_templates/*.jinja) is the
 * template itself. GGUF keeps them in its metadata (src/formats/gguf.ts).
 */
export type TemplateCarrier = 'tokenizer-config' | 'chat-template';

export function templateCarrier(baseName: string): TemplateCarrier | undefined {
  const lower = baseName.toLowerCase();
  if (lower === 'tokenizer_config.json' || lower === 'chat_template.json') return 'tokenizer-config';
  if (lower.endsWith('.jinja')) return 'chat-template';
  return undefined;
}

/** A template and where in its carrier it sits (a metadata key, `chat_template`, `chat_template.NAME`). */
export interface CarriedTemplate {
  key: string;
  template: string;
  /** where the template's text starts in its carrier (bytes), when known */
  offset?: number;
}

/**
 * The templates of a tokenizer_config.json-shaped text, or why none could be read. A file that is
 * not JSON, or whose `chat_template` is neither a string nor a list of {name, template}, is a
 * problem: transformers may still read something from it.
 */
export function configTemplates(text: string): CarriedTemplate[] | { problem: string } {
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (err) {
    return { problem: `not JSON (${err instanceof Error ? err.message : String(err)})` };
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) return { problem: 'not a JSON object' };
  const value = (config as Record<string, unknown>).chat_template;
  if (value === undefined || value === null) return [];
  if (typeof value === 'string') return [{ key: 'chat_template', template: value }];
  if (!Array.isArray(value)) return { problem: `chat_template is a ${typeof value}, not a string or a list` };
  const out: CarriedTemplate[] = [];
  for (const [i, item] of value.entries()) {
    const { name, template } = (typeof item === 'object' && item !== null ? item : {}) as Record<string, unknown>;
    if (typeof template !== 'string') return { problem: `chat_template[${i}] has no template string` };
    out.push({ key: `chat_template.${typeof name === 'string' ? name : i}`, template });
  }
  return out;
}

/** GGUF metadata keys that hold chat templates: the default one and the named ones. */
export function isTemplateKey(key: string): boolean {
  return key === 'tokenizer.chat_template' || key.startsWith('tokenizer.chat_template.');
}

/** Findings that say the template could not be decided statically: an unparsable template, a name computed at render time. */
const UNDECIDED: ReadonlySet<string> = new Set(['LT-TPL-003', 'LT-TPL-004']);

/** Each template analysed, its findings located in the file (and the member, for containers). */
export function templateDetections(file: string, entry: string[], templates: CarriedTemplate[]): Detection[] {
  const out: Detection[] = [];
  for (const { key, template, offset } of templates) {
    for (const f of analyseTemplate(template)) {
      out.push({
        ruleId: f.ruleId,
        source: 'static',
        phase: 'static',
        message: `${key}: ${f.message}`,
        // what the analysis could not decide is settled by a traced render (src/vet/settle.ts)
        evidence: { key, ...f.evidence, ...(UNDECIDED.has(f.ruleId) ? { settle: 'render' } : {}) },
        location: { file, ...(entry.length ? { entry } : {}), byteOffset: offset ?? 0 },
      });
    }
  }
  return out;
}

/**
 * A file transformers reads as a chat-template carrier (by its name): its templates analysed.
 * Returns the format the sandbox renders it as, or undefined when the file holds no template
 * (a tokenizer_config.json without `chat_template` is data like any other JSON).
 */
export function scanTemplateFile(carrier: TemplateCarrier, data: Buffer, file: string, maxBytes: number): { format: TemplateCarrier | undefined; found: Detection[] } {
  const at = { file };
  if (data.length > maxBytes) {
    return {
      format: carrier,
      found: [
        {
          ruleId: 'LT-LIM-001',
          source: 'static',
          phase: 'static',
          message: `chat-template carrier of ${data.length} bytes is over the in-memory limit; not analysed`,
          evidence: { size: data.length },
          location: at,
        },
      ],
    };
  }
  const text = data.toString('utf8');
  if (carrier === 'chat-template') return { format: carrier, found: templateDetections(file, [], [{ key: 'template', template: text, offset: 0 }]) };
  const templates = configTemplates(text);
  if ('problem' in templates) {
    return {
      format: carrier,
      found: [
        {
          ruleId: 'LT-TPL-003',
          source: 'static',
          phase: 'static',
          message: `chat-template carrier could not be read: ${templates.problem}; transformers may read a template from it`,
          evidence: { key: 'chat_template', problem: templates.problem, settle: 'render' },
          location: at,
        },
      ],
    };
  }
  if (templates.length === 0) return { format: undefined, found: [] };
  // JSON keeps no positions: the report points at the `chat_template` key
  const offset = Math.max(0, data.indexOf('"chat_template"'));
  return {
    format: carrier,
    found: [
      ...templateDetections(
        file,
        [],
        templates.map((t) => ({ ...t, offset })),
      ),
      ...specialTokenDetections(file, [], configSpecialTokens(text)),
    ],
  };
}

/**
 * Special tokens reach the template as variables (bos_token, eos_token, …) and their text is the
 * file's own: one that spells an internal name is a name a template can look up without writing
 * it (`x[bos_token]`). No real tokenizer has such a token.
 */
export function specialTokenDetections(file: string, entry: string[], tokens: Iterable<[string, string]>): Detection[] {
  const out: Detection[] = [];
  for (const [name, text] of tokens) {
    if (!isInternalName(text)) continue;
    out.push({
      ruleId: 'LT-TPL-001',
      source: 'static',
      phase: 'static',
      message: `special token ${name} is ${JSON.stringify(text.slice(0, 80))}, a Python internal name the chat template receives as a variable`,
      evidence: { key: name, name: text.slice(0, 200), via: 'special token' },
      location: { file, ...(entry.length ? { entry } : {}), byteOffset: 0 },
    });
  }
  return out;
}

/** The special tokens of a tokenizer_config.json (strings, or AddedToken objects with `content`). */
function configSpecialTokens(text: string): [string, string][] {
  const config = JSON.parse(text) as Record<string, unknown>;
  const out: [string, string][] = [];
  for (const [name, value] of Object.entries(config)) {
    if (!name.endsWith('_token')) continue;
    const content = typeof value === 'object' && value !== null ? (value as { content?: unknown }).content : value;
    if (typeof content === 'string') out.push([name, content]);
  }
  return out;
}
