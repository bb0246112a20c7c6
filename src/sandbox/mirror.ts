import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The Debian mirror the host already uses for bookworm (the image must come from the same place,
 * since this machine reaches no other). Reads one-line `.list` entries and deb822 `.sources` stanzas.
 */
export async function aptMirror(suite = 'bookworm'): Promise<string | undefined> {
  const files = ['/etc/apt/sources.list'];
  try {
    for (const name of (await readdir('/etc/apt/sources.list.d')).sort()) files.push(join('/etc/apt/sources.list.d', name));
  } catch {
    // no sources.list.d: only the main file counts
  }
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      continue;
    }
    const found = mirrorIn(text, suite);
    if (found) return found;
  }
  return undefined;
}

/** The first http(s) URI that serves `suite` in an apt sources text (either syntax). */
export function mirrorIn(text: string, suite: string): string | undefined {
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    for (const line of stanza.split('\n')) {
      const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line.trim());
      if (m?.[1] && m[2] !== undefined) fields.set(m[1].toLowerCase(), m[2]);
    }
    const uris = fields.get('uris')?.split(/\s+/) ?? [];
    const suites = fields.get('suites')?.split(/\s+/) ?? [];
    if (suites.includes(suite)) {
      const uri = uris.find((u) => /^https?:\/\//.test(u));
      if (uri) return uri.replace(/\/$/, '');
    }
  }
  for (const line of text.split('\n')) {
    const m = /^deb\s+(?:\[[^\]]*\]\s+)?(https?:\/\/\S+)\s+(\S+)/.exec(line.trim());
    if (m?.[1] && m[2] === suite) return m[1].replace(/\/$/, '');
  }
  return undefined;
}
