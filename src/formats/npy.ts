import type { Bytes } from './bytes.js';
import type { Limits } from './limits.js';

/** The .npy header: magic, version, a little-endian header length, then a Python dict literal. */
export function readNpyHeader(bytes: Bytes, limits: Limits): { descr: string; object: boolean; dataOffset: number } | { problem: string } {
  const pre = bytes.read(0, 12);
  if (pre.length < 10) return { problem: 'truncated' };
  const major = pre[6]!;
  if (major < 1 || major > 3) return { problem: `unknown version ${major}` };
  const len = major === 1 ? pre.readUInt16LE(8) : pre.length >= 12 ? pre.readUInt32LE(8) : -1;
  const start = major === 1 ? 10 : 12;
  if (len < 0 || len > limits.maxHeaderBytes || start + len > bytes.size) return { problem: 'header length out of bounds' };
  const header = bytes.read(start, len).toString(major === 3 ? 'utf8' : 'latin1');
  const m = /['"]descr['"]\s*:\s*(['"])(.*?)\1/.exec(header);
  // A structured dtype (a list of fields) may hold object fields too.
  const structured = /['"]descr['"]\s*:\s*\[/.test(header);
  if (!m && !structured) return { problem: 'no descr in the header' };
  const descr = m?.[2] ?? 'structured';
  return { descr, object: /(^|[<>|=])O/.test(descr) || (structured && /['"][<>|=]?O\d*['"]/.test(header)), dataOffset: start + len };
}
