import type { Bytes } from './bytes.js';
import type { Limits } from './limits.js';

const DTYPE_BYTES: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1, F8_E4M3: 1, F8_E5M2: 1 };

/**
 * safetensors: 8-byte header length, a JSON header, raw tensors. The format cannot carry code; what
 * can go wrong is a header that lies (offsets out of bounds or overlapping, unknown dtypes, sizes
 * that do not match the shape, an oversized metadata block). Returns one line per problem.
 */
export function checkSafetensors(bytes: Bytes, limits: Limits): string[] {
  const n = Number(bytes.read(0, 8).readBigUInt64LE(0));
  if (n > limits.maxHeaderBytes) return [`header of ${n} bytes exceeds the limit`];
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(bytes.read(8, n).toString('utf8')) as Record<string, unknown>;
  } catch {
    return ['header is not valid JSON'];
  }
  const problems: string[] = [];
  const dataSize = bytes.size - 8 - n;
  const spans: [number, number, string][] = [];
  for (const [name, spec] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (JSON.stringify(spec).length > 1 << 20) problems.push('metadata block larger than 1 MiB');
      continue;
    }
    const s = spec as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
    const width = DTYPE_BYTES[s.dtype ?? ''];
    if (!width) problems.push(`tensor ${JSON.stringify(name)} has unknown dtype ${JSON.stringify(s.dtype)}`);
    const [a, b] = s.data_offsets ?? [-1, -1];
    if (!Number.isSafeInteger(a) || !Number.isSafeInteger(b) || a < 0 || b < a || b > dataSize) {
      problems.push(`tensor ${JSON.stringify(name)} has offsets outside the data`);
      continue;
    }
    if (width && Array.isArray(s.shape) && s.shape.reduce((x, y) => x * y, 1) * width !== b - a) problems.push(`tensor ${JSON.stringify(name)} size does not match its shape`);
    spans.push([a, b, name]);
  }
  spans.sort((x, y) => x[0] - y[0]);
  for (let i = 1; i < spans.length; i++) if (spans[i]![0] < spans[i - 1]![1]) problems.push(`tensors ${JSON.stringify(spans[i - 1]![2])} and ${JSON.stringify(spans[i]![2])} overlap`);
  return problems.slice(0, 20);
}
