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

/**
 * A protocol-0 pickle that the vet cannot finish on its own: it loads as a namespace whose
 * `predict` is `put` on a full queue.Queue(1), and the sandbox's probe calls `predict`, which
 * blocks until the sandbox is stopped (a signal, --timeout). `alsoRuns`, when given, is run with
 * posix.system at load time, as fixtures' system.pkl does. Tests use it where a vet must still be
 * running at some later moment, whatever the machine's speed.
 */
export function blocksInProbePickle(alsoRuns?: string): string {
  const ran = alsoRuns === undefined ? '' : `Vran\ncposix\nsystem\n(V${alsoRuns}\ntR`;
  return `cqueue\nQueue\n(I1\ntRp0\n0cbuiltins\ngetattr\n(g0\nVput\ntR(I0\ntR0ctypes\nSimpleNamespace\n)R(Vpredict\ncbuiltins\ngetattr\n(g0\nVput\ntRVn_features_in_\nI1\n${ran}db.`;
}
