import { DECOY_ENV, DECOY_MARKER } from '../sandbox/decoys.js';

/** Decoy secret values never leave in an output, even when a payload echoed them into evidence. */
const SECRET = new RegExp(`[^\\s"']*${DECOY_MARKER}[^\\s"']*|${Object.values(DECOY_ENV).map(escapeRe).join('|')}`, 'g');

export function maskSecrets(s: string): string {
  return s.replace(SECRET, '[decoy secret masked]');
}

/** Model-derived text for a terminal or CI log: control characters (ANSI escapes, CR tricks) made visible. */
export function forTerminal(s: string): string {
  // eslint-disable-next-line no-control-regex
  return maskSecrets(s).replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

export function forHtml(s: string): string {
  return maskSecrets(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** CEF: backslash, pipe in the header; backslash, equals and newlines in extension values. */
export function cefHeader(s: string): string {
  return forTerminal(s).replace(/\\/g, '\\\\').replace(/\|/g, '\\|');
}
export function cefValue(s: string): string {
  return forTerminal(s).replace(/\\/g, '\\\\').replace(/=/g, '\\=').replace(/\r?\n/g, '\\n');
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
