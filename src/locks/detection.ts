import type { Detection } from '../core/finding.js';

/** A lock-file finding located at the start of its line (byte offset, for SARIF regions). */
export function lockDetection(file: string, text: string, line: number, ruleId: string, message: string, evidence: Record<string, unknown>): Detection {
  return { ruleId, source: 'static', phase: 'static', message, evidence, location: { file, byteOffset: offsetOfLine(text, line) } };
}

function offsetOfLine(text: string, line: number): number {
  let off = 0;
  for (let i = 0; i < line; i++) off = text.indexOf('\n', off) + 1;
  return off;
}

/** The 0-based line of the first occurrence of `needle` at or after `fromLine`, else `fromLine`. */
export function lineOf(text: string, needle: string, fromLine = 0): number {
  const lines = text.split('\n');
  for (let i = fromLine; i < lines.length; i++) if (lines[i]!.includes(needle)) return i;
  return fromLine;
}
