import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectPath } from '../../src/core/paths.js';
import { loadRuleSet } from '../../src/rules/index.js';

/**
 * A rule id is a contract: every id the code names (a detection it emits, a rule it treats
 * specially, one a comment points to) and every id the pickle policy's data files name must be
 * declared in rules/*.toml, else a detection fails at scoring time or a reader follows a dead
 * reference. Found by text, so an id built at run time is not seen (none is: ids are literals).
 */
const ID = /\bLT-[A-Z]+-\d{3}\b/g;

function filesUnder(dir: string, keep: (name: string) => boolean): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && keep(e.name))
    .map((e) => join(e.parentPath, e.name));
}

describe('rule ids', async () => {
  const declared = new Set((await loadRuleSet()).rules.map((r) => r.id));

  it('every id named in src/ or in the policy data beside the rules is declared in rules/', () => {
    const sources = [
      ...filesUnder(projectPath('src'), (n) => n.endsWith('.ts') && !n.endsWith('.validate.ts')),
      ...filesUnder(projectPath('rules'), (n) => !n.endsWith('.toml') || !readFileSync(join(projectPath('rules'), n), 'utf8').includes('[[rule]]')),
    ];
    const named = new Map<string, string>();
    for (const file of sources) for (const [id] of readFileSync(file, 'utf8').matchAll(ID)) if (!named.has(id)) named.set(id, relative(projectPath(), file));
    expect(named.size).toBeGreaterThan(40);
    const undeclared = [...named].filter(([id]) => !declared.has(id)).map(([id, file]) => `${id} (${file})`);
    expect(undeclared).toEqual([]);
  });
});
