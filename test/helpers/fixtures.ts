import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectPath } from '../../src/core/paths.js';

import type { FixtureEntry } from '../../src/cli/commands/demo.js';

export type { FixtureEntry };

/** The fixtures bootstrap generated (fixtures/out, from fixtures/generate.py). */
export const FIXTURES = projectPath('fixtures', 'out');

export function fixtureIndex(): FixtureEntry[] {
  const index = join(FIXTURES, 'index.json');
  if (!existsSync(index)) throw new Error('fixtures/out/index.json missing: run bash scripts/bootstrap');
  return JSON.parse(readFileSync(index, 'utf8')) as FixtureEntry[];
}
