import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectPath } from '../../src/core/paths.js';

import type { FixtureEntry } from '../../src/cli/commands/demo.js';

/**
 * A row of fixtures/out/index.json as written to disk: the demo's FixtureEntry plus the fields
 * generate.py adds or every module writes (fixtures/README.md, "index.json entries").
 */
export interface IndexEntry extends FixtureEntry {
  /** What the sandbox should observe while loading it. */
  dynamic: string;
  /** The generator module that wrote it (set by generate.py). */
  generator: string;
}

/** The fixtures bootstrap generated (fixtures/out, from fixtures/generate.py). */
export const FIXTURES = projectPath('fixtures', 'out');

export function fixtureIndex(): IndexEntry[] {
  const index = join(FIXTURES, 'index.json');
  if (!existsSync(index)) throw new Error('fixtures/out/index.json missing: run bash scripts/bootstrap');
  return JSON.parse(readFileSync(index, 'utf8')) as IndexEntry[];
}
