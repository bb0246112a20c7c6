import { DECOY_ENV, DECOY_MARKER } from '../core/decoys.js';

/** Decoy secret values never leave in an output, even when a payload echoed them into evidence. */
const SECRET = new RegExp(`[^\\s"']*${DECOY_MARKER}[^\\s"']*|${Object.values(DECOY_ENV).map(escapeRe).join('|')}`, 'g');

export function maskSecrets(s: string): string {
  return s.replace(SECRET, '[decoy secret masked]');
}

/**
 * Characters a terminal acts on or that reorder what it shows: every C0 control (TAB, LF and CR
 * included: they forge columns and lines), DEL, every C1 control (CSI, OSC as single code units),
 * the bidi controls (ALM U+061C, LRM/RLM U+200E/F, embeddings and overrides U+202A–U+202E,
 * isolates U+2066–U+2069) and the Unicode line/paragraph separators U+2028/U+2029. The backslash
 * is escaped too, so the escaped text is unambiguous: `a\x0ab` can only come from a, LF, b.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\\]/g;

/**
 * The one escape for text that reaches a terminal or a CI log: each unsafe character becomes
 * `\xHH` (up to U+00FF) or `\uHHHH`, a backslash becomes `\\`; everything else is kept, so the
 * result is lossless and reversible.
 */
export function escapeTerminal(s: string): string {
  return s.replace(UNSAFE, (c) => {
    if (c === '\\') return '\\\\';
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** Model-derived text for a terminal or CI log: decoys masked, then escaped (see escapeTerminal). */
export function forTerminal(s: string): string {
  return escapeTerminal(maskSecrets(s));
}

/**
 * JSON printed on a terminal: JSON.stringify leaves C1 and bidi controls raw inside strings; as
 * `\uHHHH` escapes they mean the same to a JSON parser and nothing to a terminal.
 */
export function jsonForTerminal(json: string): string {
  return json.replace(/[\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function forHtml(s: string): string {
  return maskSecrets(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * CEF: backslash, pipe in the header; backslash and equals in extension values. The text is made
 * terminal-safe first (a CEF line is read in terminals and logs too), so it holds no raw newline.
 */
export function cefHeader(s: string): string {
  return forTerminal(s).replace(/\\/g, '\\\\').replace(/\|/g, '\\|');
}
export function cefValue(s: string): string {
  return forTerminal(s).replace(/\\/g, '\\\\').replace(/=/g, '\\=');
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
