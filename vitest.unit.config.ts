import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

/**
 * `npm run test:unit`: the files that need no root and no daemons — no docker, no BPF, no sandbox,
 * no loadUnchecked, no `ltrack vet` without --static-only. Pure logic, parsers and property tests,
 * plus the built CLI's static paths and the host's /usr/bin/python3 as an oracle. They read
 * fixtures/out and dist/, so `npm run bootstrap` must have run once. A file joins this list only
 * if it passes as an unprivileged user (setpriv --reuid 65534 --regid 65534 --clear-groups).
 */
export const UNIT_FILES = [
  'test/cli/contract.test.ts',
  'test/cli/each.test.ts',
  'test/fixtures/pickle-ops.test.ts',
  'test/gadgets/denylists.test.ts',
  'test/gadgets/fixtures.test.ts',
  'test/gadgets/policy.test.ts',
  'test/gadgets/walk.test.ts',
  'test/integrity/intake-units.test.ts',
  'test/integrity/kernel-units.test.ts',
  'test/integrity/manifest.test.ts',
  'test/integrity/pickle-grammar.test.ts',
  'test/integrity/snapshot-links.test.ts',
  'test/integrity/static-only.test.ts',
  'test/integrity/terminal.test.ts',
  'test/locks/locks.test.ts',
  'test/manifest/cli.test.ts',
  'test/manifest/hash-keyless.test.ts',
  'test/manifest/manifest.test.ts',
  'test/report/report.test.ts',
  'test/rules/declared-ids.test.ts',
  'test/rules/digest.test.ts',
  'test/rules/phase-coverage.test.ts',
  'test/rules/rule-validator.test.ts',
  'test/rules/rules.test.ts',
  'test/sandbox/cgroup-layout.test.ts',
  'test/sandbox/channel.test.ts',
  'test/sandbox/sizing.test.ts',
  'test/scoring/scoring.test.ts',
  'test/static/fixtures.test.ts',
  'test/static/cursor-window.test.ts',
  'test/static/formats.test.ts',
  'test/static/nested-encoded.test.ts',
  'test/static/loaders-static.test.ts',
  'test/static/joblib.test.ts',
  'test/static/onnx.test.ts',
  'test/static/payload-args.test.ts',
  'test/static/payload-text.test.ts',
  'test/static/pickle.test.ts',
  'test/static/regressions.test.ts',
  'test/static/sevenzip.test.ts',
  'test/static/zip-views.test.ts',
  'test/static/tar.test.ts',
  'test/static/template.test.ts',
  'test/static/unpack.test.ts',
  'test/trace/btf-layout.test.ts',
  'test/trace/decode.test.ts',
  'test/trace/load-log.test.ts',
  'test/vet/libdigests.test.ts',
  'test/vet/loader-stack.test.ts',
  'test/vet/settle-templates.test.ts',
  'test/vet/observed.test.ts',
  'test/vet/outcome.test.ts',
  'test/vet/phases.test.ts',
];

/**
 * Static vets stage their candidates in /var/lib/ltrack/stage, which src/intake/stage.ts refuses
 * unless it belongs to this user; once root has run ltrack it does not. An unprivileged run gets a
 * private staging area of its own (the documented LTRACK_STAGE_DIR), shared with the CLI it spawns.
 */
const uid = process.getuid?.() ?? 0;
const env = uid !== 0 && !process.env.LTRACK_STAGE_DIR ? { LTRACK_STAGE_DIR: join(tmpdir(), `ltrack-stage-${uid}`) } : {};

// Not mergeConfig: it would append to the base include (every test) instead of replacing it.
export default defineConfig({ ...base, test: { ...base.test, include: UNIT_FILES, env } });
