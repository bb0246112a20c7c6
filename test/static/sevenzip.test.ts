import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { parseListing } from '../../src/formats/sevenzip.js';
import { scanPaths } from '../../src/static/index.js';

const work = mkdtempSync(join(tmpdir(), 'ltrack-7z-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** os.system('/bin/true') then an empty dict: protocol 2. */
const PAYLOAD = Buffer.from('\x80\x02cos\nsystem\nX\x09\x00\x00\x00/bin/true\x85R0}.', 'latin1');
const BENIGN = Buffer.from('\x80\x02}q\x00X\x01\x00\x00\x00aK\x01s.', 'latin1');

/** A 7z archive of `files` made by 7-Zip itself (extra switches: encryption, methods). */
function archive(name: string, files: Record<string, Buffer>, switches: string[] = []): string {
  const src = mkdtempSync(join(work, 'src-'));
  for (const [rel, data] of Object.entries(files)) {
    mkdirSync(join(src, rel, '..'), { recursive: true });
    writeFileSync(join(src, rel), data);
  }
  const out = join(work, name);
  const r = spawnSync('7zz', ['a', '-bd', '-y', ...switches, out, '.'], { cwd: src });
  // stderr is null (though typed Buffer) when 7zz cannot be spawned at all: say why instead
  expect(r.status, r.error?.message ?? r.stderr.toString()).toBe(0);
  return out;
}

describe('7z archives through a bounded 7-Zip child', () => {
  it('every member is scanned by its content: a pickle two folders down runs os.system', async () => {
    const r = await scanPaths([archive('payload.7z', { 'README.md': Buffer.from('# model\n'), 'ckpt/inner/model.pkl': PAYLOAD, 'ckpt/ok.pkl': BENIGN })]);
    const hit = r.detections.find((d) => d.ruleId === 'LT-PKL-001');
    expect(hit?.location?.entry).toEqual(['ckpt/inner/model.pkl']);
    expect(r.incomplete).toEqual([]);
    expect(r.targets[0]).toMatchObject({ format: '7z' });
    expect(r.targets[0]!.unanalysed).toBeUndefined();
  });

  it('a benign archive (solid, LZMA2, several members) has no finding and is fully seen', async () => {
    const r = await scanPaths([archive('benign.7z', { 'a.pkl': BENIGN, 'b/c.txt': Buffer.from('hello'), empty: Buffer.alloc(0) }, ['-ms=on'])]);
    expect(r.detections).toEqual([]);
    expect(r.incomplete).toEqual([]);
  });

  it('a 7z inside a 7z is opened too, its findings located through both', async () => {
    const inner = readFileSync(archive('inner.7z', { 'x.pkl': PAYLOAD }));
    const r = await scanPaths([archive('nested.7z', { 'deeper/inner.7z': inner })]);
    expect(r.detections.find((d) => d.ruleId === 'LT-PKL-001')?.location?.entry).toEqual(['deeper/inner.7z', 'x.pkl']);
  });

  it.each([
    ['encrypted members', ['-pSECRET'], /encrypted/],
    ['encrypted headers', ['-pSECRET', '-mhe=on'], /cannot be listed/],
  ])('%s: a finding, and the vet is incomplete with the reason', async (name, switches, why) => {
    const r = await scanPaths([archive(`${name.replace(' ', '-')}.7z`, { 'model.pkl': PAYLOAD }, switches)]);
    expect(r.detections.map((d) => d.ruleId)).toContain('LT-FMT-001');
    expect(r.incomplete).toHaveLength(1);
    expect(r.incomplete[0]).toMatch(why);
    expect(r.targets[0]!.unanalysed).toMatch(why);
  });

  it('members over the ratio bound are not extracted: a limit finding and incomplete', async () => {
    const r = await scanPaths([archive('bomb.7z', { 'zeros.bin': Buffer.alloc(8 << 20) })]);
    expect(r.detections.map((d) => d.ruleId)).toContain('LT-LIM-001');
    expect(r.incomplete[0]).toMatch(/over the bound/);
  });

  it('a truncated archive is incomplete, never a pass', async () => {
    const whole = readFileSync(archive('whole.7z', { 'model.pkl': PAYLOAD, 'pad.bin': Buffer.from('x'.repeat(5000)) }));
    const cut = join(work, 'cut.7z');
    writeFileSync(cut, whole.subarray(0, whole.length - 40));
    const r = await scanPaths([cut]);
    expect(r.incomplete.length + r.detections.filter((d) => d.ruleId === 'LT-PKL-001').length).toBeGreaterThan(0);
    expect(r.incomplete[0] ?? '').toMatch(/7z archive not opened/);
  });

  it('the listing parser never throws and yields only well-formed items', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.string(), fc.constantFrom('Path = a', 'Size = 5', 'Size = -1', 'Size = x', 'Attributes = D', 'CRC = 0000000A', 'Encrypted = +', '')), { maxLength: 30 }),
        (lines) => {
          const r = parseListing(lines.join('\n'));
          if (!('problem' in r)) for (const i of r) expect(Number.isSafeInteger(i.size) && i.size >= 0).toBe(true);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('a raw tensor blob vetted alone (no companion file)', () => {
  const blob = (name: string, size = 4096) => {
    const p = join(work, 'blobs', name);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, Buffer.from(Array.from({ length: size }, (_, i) => (i * 37 + 11) & 0xff)));
    return p;
  };

  it.each([
    ['model.onnx_data', /ONNX external data.*model\.onnx/],
    ['model.onnx.data', /ONNX external data/],
    ['model-00001-of-00002.bin', /shard.*index\.json/],
    ['embeddings.weight', /external_data.*index\.json.*safetensors/],
  ])('%s: incomplete, naming the companion that makes it loadable', async (name, companion) => {
    const r = await scanPaths([blob(name)]);
    expect(r.targets[0]!.unanalysed).toMatch(companion);
    expect(r.targets[0]!.unanalysed).toMatch(/1024 float32 values/);
    // a loader opens *.bin by its name: the vet's unaccounted() adds that reason; the others come from here
    if (!name.endsWith('.bin')) expect(r.incomplete.join('\n')).toMatch(companion);
  });

  it('binary content whose name says nothing of tensors (a tokenizer model) is named, not held back', async () => {
    const r = await scanPaths([blob('tokenizer.model')]);
    expect(r.targets[0]!.unanalysed).toMatch(/not recognised/);
    expect(r.incomplete).toEqual([]);
  });
});
