/** Padded standard base64, whole quanta only: no whitespace, no URL-safe letters, no stray "=". */
const SHAPE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Strict base64: the bytes, or undefined when `s` is not the one canonical encoding of them.
 * Node's decoder skips whitespace and foreign characters and ignores non-zero padding bits, so
 * many strings decode to the same bytes; a signed artefact must have exactly one spelling, or a
 * tampered copy can pass byte-comparing checks and tools disagree about what was signed.
 */
export function decodeBase64Strict(s: string): Buffer | undefined {
  if (!SHAPE.test(s)) return undefined;
  const bytes = Buffer.from(s, 'base64');
  return bytes.toString('base64') === s ? bytes : undefined;
}
