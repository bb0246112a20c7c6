import { Cursor, type Bytes } from './bytes.js';
import type { Limits } from './limits.js';

/** GGUF metadata value types (ggml's gguf.h). */
const SCALAR_BYTES: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
const STRING = 8;
const ARRAY = 9;

/** `offsets`: where each kept string's bytes start in the file (a chat template's place, for the report). */
export type GgufHeader = { version: number; tensors: bigint; strings: Map<string, string>; offsets: Map<string, number> } | { problem: string };

/**
 * Reads a GGUF header's metadata (magic, version, tensor and key counts, then typed key/value
 * pairs) and keeps the string values — where a chat template lives. Bounded by the header limit;
 * arrays are skipped element by element without being kept.
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
  const skipValue = (type: number, depth: number): string | undefined => {
    if (type === STRING) return str();
    if (type === ARRAY) {
      if (depth > 2) throw new Error('nested arrays too deep');
      const inner = u32();
      const count = u64();
      if (count > BigInt(limits.maxHeaderBytes)) throw new Error('array longer than the header limit');
      for (let i = 0n; i < count; i++) skipValue(inner, depth + 1);
      return undefined;
    }
    const size = SCALAR_BYTES[type];
    if (size === undefined) throw new Error(`unknown value type ${type}`);
    need(size);
    return undefined;
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
      const value = skipValue(type, 0);
      if (value !== undefined) {
        strings.set(key, value);
        offsets.set(key, at);
      }
    }
    return { version, tensors, strings, offsets };
  } catch (err) {
    return { problem: err instanceof Error ? err.message : String(err) };
  }
}
