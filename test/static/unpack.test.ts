import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { unpack, type Compression } from '../../src/formats/unpack.js';
import { resolveLimits } from '../../src/formats/limits.js';
import { sniff } from '../../src/formats/sniff.js';
import { BufBytes } from '../../src/formats/bytes.js';
import { kerasCodeLayers } from '../../src/formats/keras.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scanPaths } from '../../src/static/index.js';

const limits = resolveLimits();
const compress = (tool: string, args: string[], input: Buffer) => spawnSync(tool, args, { input, maxBuffer: 1 << 30 }).stdout;
const samples: Record<Exclude<Compression, 'gzip' | 'zlib'>, (b: Buffer) => Buffer> = {
  bz2: (b) => compress('bzip2', ['-c'], b),
  xz: (b) => compress('xz', ['-c'], b),
  lzma: (b) => compress('xz', ['-c', '--format=lzma'], b),
  // the reference lz4 tool's frames (content checksum, 4 MiB blocks): an oracle for src/formats/lz4.ts
  lz4: (b) => compress('lz4', ['-c'], b),
};

describe('bounded unpacking of bzip2, xz, legacy lzma and lz4', () => {
  const text = Buffer.from('a pickle would be here '.repeat(100));

  it.each(Object.entries(samples))('%s: round trip, and sniffed by content', (kind, make) => {
    const packed = make(text);
    expect(sniff(new BufBytes(packed))).toBe(kind);
    expect(unpack(kind as Compression, packed, limits)).toEqual({ data: text });
  });

  it.each(Object.entries(samples))('%s: a bomb stops at the ratio bound, keeping only a prefix', (kind, make) => {
    const packed = make(Buffer.alloc(64 << 20));
    const r = unpack(kind as Compression, packed, limits);
    expect('data' in r && r.cut).toMatch(/larger than \d+ bytes/);
    if ('data' in r) expect(r.data.length).toBeLessThanOrEqual(limits.maxCompressionRatio * Math.max(packed.length, 1024));
  });

  it('gzip over the size bound is a limit, not an exception', () => {
    const packed = spawnSync('gzip', ['-c'], { input: Buffer.alloc(8 << 20), maxBuffer: 1 << 30 }).stdout;
    expect(unpack('gzip', packed, resolveLimits({ maxInMemoryBytes: 1 << 20 }))).toMatchObject({ limit: true });
  });

  it('never throws on random or mutated input, and malformed input is a malformation', () => {
    const good = samples.xz(text);
    fc.assert(
      fc.property(fc.constantFrom<Compression>('bz2', 'xz', 'lzma', 'gzip', 'zlib'), fc.uint8Array({ maxLength: 256 }), fc.nat(good.length - 1), (kind, noise, at) => {
        const mutated = Buffer.from(good);
        mutated.set(noise.subarray(0, good.length - at), at);
        for (const input of [Buffer.from(noise), mutated]) {
          const r = unpack(kind, input, limits);
          if ('problem' in r) expect(typeof r.limit).toBe('boolean');
        }
      }),
      { numRuns: 60 },
    );
  });
});

describe('legacy .lzma sniffing has no magic number: only a plausible header counts', () => {
  it('does not take text starting with "]" for lzma', () => {
    expect(sniff(new BufBytes(Buffer.from(']\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00')))).not.toBe('lzma');
    expect(sniff(new BufBytes(Buffer.from('][1, 2, 3] and some more text here')))).not.toBe('lzma');
  });
});

describe('Keras architecture', () => {
  it('finds Lambda layers and objects from outside Keras at any depth', () => {
    const config = {
      class_name: 'Functional',
      config: {
        layers: [
          { module: 'keras.layers', class_name: 'Dense', config: { name: 'd' } },
          { module: 'keras.layers', class_name: 'TimeDistributed', config: { layer: { class_name: 'Lambda', config: { name: 'inner' } } } },
          { module: 'my_company.layers', class_name: 'Attention', registered_name: 'my>Attention', config: {} },
        ],
      },
    };
    expect(kerasCodeLayers(JSON.stringify(config))).toEqual({ lambdas: ['inner'], customObjects: ['my_company.layers.Attention'], tooDeep: false });
  });

  it('reads the model_config of a Keras HDF5 file written by h5py: Lambda and custom layers', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'ltrack-keras-')), 'model.h5');
    const config = JSON.stringify({
      class_name: 'Sequential',
      config: {
        name: 'seq',
        layers: [
          { module: 'keras.layers', class_name: 'Dense', config: { name: 'dense' } },
          { class_name: 'Lambda', config: { name: 'shout', function: ['YWJj', null, null] } },
          { module: 'acme_layers', class_name: 'Gate', config: { name: 'g' } },
        ],
      },
    });
    spawnSync('/usr/bin/python3', ['-c', 'import h5py, sys\nwith h5py.File(sys.argv[1], "w") as f:\n    f.attrs["model_config"] = sys.argv[2]\n    f.create_group("model_weights")', path, config]);
    const r = await scanPaths([path]);
    expect(r.targets[0]!.format).toBe('keras-h5');
    expect(r.detections.map((d) => `${d.ruleId} ${d.message}`)).toEqual([
      'LT-KERAS-001 Keras Lambda layer shout: its marshalled Python code runs when the model is loaded',
      "LT-KERAS-002 Keras model needs acme_layers.Gate from outside Keras: loading it imports and runs that module's code",
    ]);
  });

  it('plain models have neither; non-JSON is undefined; hostile nesting is bounded and said, never silent', () => {
    expect(kerasCodeLayers(JSON.stringify({ class_name: 'Sequential', module: 'keras', config: { layers: [{ class_name: 'Dense', module: 'keras.layers' }] } }))).toEqual({
      lambdas: [],
      customObjects: [],
      tooDeep: false,
    });
    expect(kerasCodeLayers('{not json')).toBeUndefined();
    const deep = '['.repeat(5000) + ']'.repeat(5000);
    expect(kerasCodeLayers(deep)).toEqual({ lambdas: [], customObjects: [], tooDeep: true });
  });
});
