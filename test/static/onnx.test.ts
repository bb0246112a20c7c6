import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BufBytes } from '../../src/formats/bytes.js';
import { resolveLimits } from '../../src/formats/limits.js';
import { readOnnx, type OnnxSummary } from '../../src/formats/onnx.js';
import { FIXTURES } from '../helpers/fixtures.js';
import { scanPaths } from '../../src/static/index.js';
import { unaccounted } from '../../src/vet/index.js';

/** A minimal protobuf encoder for hand-made ModelProtos (field numbers from onnx.proto). */
const varint = (n: number): Buffer => {
  const out: number[] = [];
  do {
    out.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
    n = Math.floor(n / 128);
  } while (n > 0);
  return Buffer.from(out);
};
const int = (no: number, v: number) => Buffer.concat([varint(no << 3), varint(v)]);
const msg = (no: number, ...parts: Buffer[]) => {
  const body = Buffer.concat(parts);
  return Buffer.concat([varint((no << 3) | 2), varint(body.length), body]);
};
const str = (no: number, s: string) => msg(no, Buffer.from(s));

const node = (opType: string, domain = '', ...attrs: Buffer[]) => msg(1, str(4, opType), ...(domain ? [str(7, domain)] : []), ...attrs);
const tensor = (name: string, location?: string) => msg(5, str(8, name), ...(location ? [msg(13, str(1, 'location'), str(2, location)), int(14, 1)] : []), msg(9, Buffer.alloc(64)));
const model = (...graph: Buffer[]) => Buffer.concat([int(1, 8), msg(8, str(1, ''), int(2, 13)), msg(7, ...graph)]);
const limits = resolveLimits();
const read = (b: Buffer) => readOnnx(new BufBytes(b), limits);
const summary = (b: Buffer) => read(b) as OnnxSummary;

describe('ONNX reader', () => {
  it('reads a plain model: standard domains only, inline data', () => {
    const s = summary(model(node('MatMul'), node('Add', 'ai.onnx'), node('FusedGemm', 'com.microsoft'), tensor('W')));
    expect(s.irVersion).toBe(8);
    expect(s.nodes).toBe(3);
    expect([...s.customDomains]).toEqual([]);
    expect(s.escapingLocations).toEqual([]);
  });

  it('reports custom operator domains, also inside subgraphs (If/Loop bodies) and functions', () => {
    const body = msg(6, node('Exec', 'com.evil.ops'));
    const s = summary(model(node('If', '', msg(5, str(1, 'then_branch'), body)), node('Shell', 'org.custom')));
    expect(Object.fromEntries([...s.customDomains].map(([d, { ops }]) => [d, [...ops]]))).toEqual({ 'com.evil.ops': ['Exec'], 'org.custom': ['Shell'] });
  });

  it.each([
    ['../../etc/passwd', true],
    ['/etc/shadow', true],
    ['weights/../../secret', true],
    ['C:\\Windows\\win.ini', true],
    ['~/.ssh/id_rsa', true],
    ['weights.bin', false],
    ['data/weights.bin', false],
    ['a..b.bin', false],
  ])('external data at %s escapes: %s', (location, escapes) => {
    const s = summary(model(tensor('W', location)));
    expect(s.escapingLocations).toEqual(escapes ? [{ tensor: 'W', location, offset: expect.any(Number) as number }] : []);
  });

  it('bytes that are not a ModelProto are not ONNX; a broken model is a problem', () => {
    expect(read(Buffer.from('\x08\x01plain text, not protobuf'))).toBeUndefined();
    expect(read(int(1, 8))).toBeUndefined(); // no graph
    const broken = model(node('Add'), tensor('W'));
    expect(read(broken.subarray(0, broken.length - 10))).toEqual(undefined); // the graph's length runs past the end
    const deep = (n: number): Buffer => (n === 0 ? node('Add') : node('If', '', msg(5, msg(6, deep(n - 1)))));
    expect(read(model(deep(40)))).toMatchObject({ problem: expect.stringMatching(/nested deeper/) as string });
  });

  it('never throws on random or mutated models (the real fixture included)', () => {
    const real = readFileSync(join(FIXTURES, 'tricks', 'onnx_external_traversal.onnx'));
    expect(summary(real).escapingLocations).toEqual([{ tensor: 'W', location: '../../../../../../etc/hostname', offset: expect.any(Number) as number }]);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 128 }), fc.nat(real.length - 1), (noise, at) => {
        const mutated = Buffer.from(real);
        mutated.set(noise.subarray(0, real.length - at), at);
        read(mutated);
        read(Buffer.concat([Buffer.from([8]), Buffer.from(noise)]));
      }),
      { numRuns: 300 },
    );
  });
});

describe('ONNX external data vetted with its model', () => {
  it('a headerless file the model names is accounted for as its tensor bytes; an unnamed one, a named pickle and another folder are not', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ltrack-onnx-ext-'));
    try {
      mkdirSync(join(dir, 'data'));
      mkdirSync(join(dir, 'other'));
      const raw = () => Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 37 + 11) & 0xff));
      writeFileSync(join(dir, 'model.onnx'), model(tensor('W', 'weights.bin'), tensor('B', 'data/bias.bin'), tensor('P', 'evil.bin')));
      writeFileSync(join(dir, 'weights.bin'), raw());
      writeFileSync(join(dir, 'data', 'bias.bin'), raw());
      writeFileSync(join(dir, 'evil.bin'), Buffer.from("cos\nsystem\n(S'/bin/true'\ntR.", 'latin1')); // named, but a pickle
      writeFileSync(join(dir, 'stray.bin'), raw()); // named by nothing
      writeFileSync(join(dir, 'other', 'weights.bin'), raw()); // same name, another folder
      const r = await scanPaths([dir]);
      const format = Object.fromEntries(r.targets.map((t) => [t.path.slice(dir.length + 1), [t.format, t.unanalysed !== undefined]]));
      expect(format).toEqual({
        'model.onnx': ['onnx', false],
        'weights.bin': ['onnx-external-data', false],
        'data/bias.bin': ['onnx-external-data', false],
        'evil.bin': ['pickle', false],
        'stray.bin': ['unknown', true],
        'other/weights.bin': ['unknown', true],
      });
      expect(r.detections.some((d) => d.ruleId === 'LT-PKL-001' && d.location?.file === join(dir, 'evil.bin'))).toBe(true);
      expect(unaccounted(r.targets, r.skipped).map((x) => x.slice(dir.length + 1).split(':')[0])).toEqual(['other/weights.bin', 'stray.bin']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
