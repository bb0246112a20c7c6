import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ltrack } from '../helpers/cli.js';
import { FIXTURES, fixtureIndex } from '../helpers/fixtures.js';
import { loadUnchecked, ranTrue } from '../helpers/unchecked.js';
import type { Report } from '../../src/core/report.js';

/**
 * Formats production loaders read, loaded in the real sandbox (issue #14 items 4 and 5): GGUF and
 * tokenizer_config.json / chat_template.jinja by rendering their chat templates with jinja2,
 * joblib's lz4 and pre-0.10 ZF dumps with joblib, plain HDF5 with h5py. Benign ones pass a full
 * vet; malicious ones really do harm when loaded unchecked and are blocked with the harm seen.
 */
const D = join(FIXTURES, 'depth_loaders');
const ours = fixtureIndex().filter((e) => e.generator === 'depth_loaders');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ltrack-loaders-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

type Event = { kind: string; path?: string; phase?: string };

async function vet(name: string, paths: string[]): Promise<{ code: number | null; report: Report; events: Event[]; out: string }> {
  const out = join(dir, name);
  const r = ltrack(['vet', ...paths, '--out', out]);
  const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as Report;
  const events = (await readFile(join(out, 'events.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Event);
  return { code: r.code, report, events, out: r.stderr + r.stdout };
}

describe('formats loaded in the sandbox', () => {
  it('every benign one passes a full vet, loaded by its real library', async () => {
    const benign = ours.filter((e) => e.kind === 'benign');
    expect(benign.length).toBeGreaterThanOrEqual(7);
    // the snapshot is vetted as the folder it is
    const paths = [...new Set(benign.map((e) => (e.file.includes('/snapshot_benign/') ? join(D, 'snapshot_benign') : join(FIXTURES, e.file))))];
    const { code, report, events, out } = await vet('benign', paths);
    expect(code, out).toBe(0);
    expect(report.verdict.status).toBe('pass');
    expect(report.findings).toEqual([]); // a loader failure would be a finding (LT-SBX-003)
    expect(report.targets.map((t) => t.format).sort()).toEqual(benign.map((e) => e.format).sort());
    const loadOpens = events.filter((e) => e.kind === 'file_open' && e.phase === 'load').map((e) => e.path ?? '');
    for (const library of ['/jinja2/', '/lz4/', '/joblib/', '/h5py/'])
      expect(
        loadOpens.some((p) => p.includes(library)),
        library,
      ).toBe(true);
  });

  it.each(ours.filter((e) => e.kind === 'malicious').map((e) => [e.file] as const))('%s does harm when loaded unchecked', async (file) => {
    const format = ours.find((e) => e.file === file)!.format;
    const run = await loadUnchecked({ models: [{ hostPath: join(FIXTURES, file), format }] });
    expect(ranTrue(run.events)).toBe(true);
  });

  it.each(ours.filter((e) => e.kind === 'malicious').map((e) => [e.file, e.rule] as const))('%s is blocked, the harm seen by the tracer', async (file, rule) => {
    const name = file.replace(/[^\w.]/g, '_');
    const { code, report } = await vet(name, [join(FIXTURES, file)]);
    expect(code).toBe(1);
    expect(report.verdict.status).toBe('block');
    const ids = report.findings.map((f) => `${f.source}:${f.ruleId}`);
    expect(ids).toContain(`static:${rule}`);
    expect(ids.some((id) => id.startsWith('dynamic:LT-EXEC-'))).toBe(true);
  });
});
