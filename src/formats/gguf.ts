import { Cursor, type Bytes } from './bytes.js';
import type { Limits } from './limits.js';

/** GGUF metadata value types (ggml's gguf.h). */
const SCALAR_BYTES: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
const STRING = 8;
const ARRAY = 9;

/**
 * `offsets`: where each kept string's bytes start in the file (a chat template's place, for the
 * report). `specialTokens`: the text of the bos and eos tokens, which runtimes pass to the chat
 * template as `bos_token` and `eos_token`.
 */
export type GgufHeader = { version: number; tensors: bigint; strings: Map<string, string>; offsets: Map<string, number>; specialTokens: Map<string, string> } | { problem: string };

const TOKENS_KEY = 'tokenizer.ggml.tokens';
/** Vocabulary entries kept to look special tokens up: far more than any vocabulary's, bounded all the same. */
const MAX_KEPT_TOKENS = 1_000_000;
const SPECIAL_IDS: Record<string, string> = { 'tokenizer.ggml.bos_token_id': 'bos_token', 'tokenizer.ggml.eos_token_id': 'eos_token' };

/**
 * Reads a GGUF header's metadata (magic, version, tensor and key counts, then typed key/value
 * pairs) and keeps the string values — where a chat template lives. Bounded by the header limit;
 * arrays are skipped element by element without being kept, except the vocabulary's entries at
 * the special token ids (kept as the array goes by; the ids may come before or after it).
 */
export function readGgufHeader(bytes: Bytes, limits: Limits): GgufHeader {
  const cur = new Cursor(bytes);
  const need = (n: number): Buffer => {
    if (cur.pos + n > limits.maxHeaderBytes) throw new Error('metadata larger than the header limit');
    const b = cur.take(n);
    if (!b) throw new Error('truncated metadata');
    return b;
  };
  const u32 = () => need(4).readUInt32LE(0);
  const u64 = () => need(8).readBigUInt64LE(0);
  const str = (): string => {
    const n = u64();
    if (n > BigInt(limits.maxHeaderBytes)) throw new Error('string longer than the header limit');
    return Buffer.from(need(Number(n))).toString('utf8');
  };
  // vocabulary entries by index, to find the special tokens' text once their ids are known
  const vocabulary = new Map<number, string>();
  const ids = new Map<string, number>();
  const skipValue = (type: number, depth: number, keep?: (i: number, s: string) => void): string | undefined => {
    if (type === STRING) return str();
    if (type === ARRAY) {
      if (depth > 2) throw new Error('nested arrays too deep');
      const inner = u32();
      const count = u64();
      if (count > BigInt(limits.maxHeaderBytes)) throw new Error('array longer than the header limit');
      for (let i = 0n; i < count; i++) {
        const v = skipValue(inner, depth + 1);
        if (keep && v !== undefined) keep(Number(i), v);
      }
      return undefined;
    }
    const size = SCALAR_BYTES[type];
    if (size === undefined) throw new Error(`unknown value type ${type}`);
    const b = need(size);
    return size === 4 && (type === 4 || type === 5) ? String(b.readUInt32LE(0)) : undefined;
  };
  // every string of the vocabulary could be a special token; keep them all only up to a bound
  const keepVocabulary = (i: number, s: string) => {
    if (vocabulary.size < MAX_KEPT_TOKENS) vocabulary.set(i, s);
  };
  try {
    if (need(4).toString('latin1') !== 'GGUF') return { problem: 'bad magic' };
    const version = u32();
    if (version < 2 || version > 3) return { problem: `unsupported GGUF version ${version}` };
    const tensors = u64();
    const kvs = u64();
    if (kvs > 1_000_000n) return { problem: `${kvs} metadata keys` };
    const strings = new Map<string, string>();
    const offsets = new Map<string, number>();
    const keys = new Set<string>();
    for (let i = 0n; i < kvs; i++) {
      const key = str();
      // gguf readers refuse a repeated key; one that kept the first or the last would differ from this one
      if (keys.has(key)) throw new Error(`duplicate metadata key ${JSON.stringify(key.slice(0, 100))}`);
      keys.add(key);
      const type = u32();
      const at = cur.pos + 8;
      const value = skipValue(type, 0, key === TOKENS_KEY ? keepVocabulary : undefined);
      const special = SPECIAL_IDS[key];
      if (special !== undefined && type !== STRING && value !== undefined) ids.set(special, Number(value));
      else if (type === STRING && value !== undefined) {
        strings.set(key, value);
        offsets.set(key, at);
      }
    }
    const specialTokens = new Map<string, string>();
    for (const [name, id] of ids) {
      const text = vocabulary.get(id);
      if (text !== undefined) specialTokens.set(name, text);
    }
    return { version, tensors, strings, offsets, specialTokens };
  } catch (err) {
    return { problem: err instanceof Error ? err.message : String(err) };
  }
}
