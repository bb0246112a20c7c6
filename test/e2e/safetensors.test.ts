import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ltrack } from '../helpers/cli.js';
import type { Report } from '../../src/core/report.js';

/** A safetensors file with a float32 and a bfloat16 tensor (numpy has no bfloat16: the loader uses torch). */
function safetensors(): Buffer {
  const data = Buffer.alloc(16 + 8);
  let header = Buffer.from(JSON.stringify({ w: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] }, b: { dtype: 'BF16', shape: [4], data_offsets: [16, 24] } }));
  header = Buffer.concat([header, Buffer.alloc((8 - (header.length % 8)) % 8, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  return Buffer.concat([len, header, data]);
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ltrack-st-'));
  await writeFile(join(dir, 'model.safetensors'), safetensors());
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe('safetensors through the sandbox', () => {
  it('is loaded by the safetensors library (bfloat16 included) and passes', async () => {
    const out = join(dir, 'out');
    const r = ltrack(['vet', join(dir, 'model.safetensors'), '--out', out]);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as Report;
    expect(report.targets.map((t) => t.format)).toEqual(['safetensors']);
    expect(report.findings).toEqual([]); // a loader failure would be LT-SBX-003
    const events = (await readFile(join(out, 'events.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string; path?: string; phase?: string });
    expect(events.some((e) => e.kind === 'file_open' && e.phase === 'load' && e.path?.includes('/safetensors/'))).toBe(true);
  });
});
