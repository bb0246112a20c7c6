import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { deflateSync, gzipSync } from 'node:zlib';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BufBytes, Cursor } from '../../src/formats/bytes.js';
import { DEFAULT_LIMITS, resolveLimits } from '../../src/formats/limits.js';
import { decodeStages, encodedStages, MAX_STAGES, type Stage } from '../../src/static/pickle/encoded.js';
import { runPickle } from '../../src/static/pickle/interpreter.js';
import { scanPaths } from '../../src/static/index.js';

/** os.system('/bin/true') in protocol 4 (what the fixtures' inner pickle does). */
const PAYLOAD = Buffer.concat([
  Buffer.from([0x80, 4, 0x8c, 2]),
  Buffer.from('os'),
  Buffer.from([0x8c, 6]),
  Buffer.from('system'),
  Buffer.from([0x93, 0x8c, 9]),
  Buffer.from('/bin/true'),
  Buffer.from([0x85, 0x52, 0x2e]),
]);

const encode = (b: Buffer, stage: Stage): Buffer => {
  switch (stage) {
    case 'hex':
      return Buffer.from(b.toString('hex'));
    case 'base64':
      return Buffer.from(b.toString('base64'));
    case 'zlib':
      return deflateSync(b);
    case 'gzip':
      return gzipSync(b);
    default:
      throw new Error(`no encoder for ${stage} here`);
  }
};

/** A protocol-4 pickle of one BINBYTES constant (what pickle.dumps(b) writes), so the constant is an operand. */
const holding = (data: Buffer): Buffer => {
  const len = Buffer.alloc(4);
  len.writeUInt32LE(data.length);
  return Buffer.concat([Buffer.from([0x80, 4, 0x42]), len, data, Buffer.from([0x2e])]);
};

const small = resolveLimits({ maxInMemoryBytes: 1 << 16, maxInlineBytes: 1 << 12 });

describe('pickles encoded inside constants', () => {
  it('recognises every chain of hex, base64, zlib and gzip over a pickle, and decodes it back', () => {
    const stage = fc.constantFrom<Stage>('hex', 'base64', 'zlib', 'gzip');
    fc.assert(
      fc.property(fc.array(stage, { maxLength: 4 }), (chain) => {
        let data: Buffer = PAYLOAD;
        for (const s of chain) data = encode(data, s);
        const found = encodedStages(data, true);
        expect(found).toBeDefined();
        const decoded = decodeStages(new BufBytes(data), found!.stages, DEFAULT_LIMITS);
        expect('bytes' in decoded && decoded.bytes.read(0, decoded.bytes.size)).toEqual(PAYLOAD);
      }),
    );
  });

  it('random and mutated prefixes: never throws, at most MAX_STAGES stages', () => {
    const mutated = fc.tuple(fc.constantFrom<Stage>('hex', 'base64', 'zlib', 'gzip'), fc.array(fc.nat(), { maxLength: 8 }), fc.integer({ min: 0, max: 255 })).map(([s, at, v]) => {
      const b = Buffer.from(encode(PAYLOAD, s));
      for (const i of at) b[i % b.length] = v;
      return b;
    });
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 5000 }).map((a) => Buffer.from(a)),
          mutated,
        ),
        (b) => {
          const found = encodedStages(b, true);
          expect(found === undefined || found.stages.length <= MAX_STAGES + 1).toBe(true);
          if (found) {
            const out = decodeStages(new BufBytes(b), found.stages, small);
            if ('bytes' in out) expect(out.bytes.size).toBeLessThanOrEqual(Math.max(small.maxInMemoryBytes, b.length));
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('decoding is bounded: a constant that decodes past the in-memory limit is a limit, not a buffer', () => {
    const huge = deflateSync(Buffer.alloc(1 << 20, 0x4e)); // 1 MiB of NONE opcodes, compressed
    const out = decodeStages(new BufBytes(Buffer.from(huge.toString('base64'))), ['base64', 'zlib'], small);
    expect('problem' in out && out.limit).toBe(true);
  });

  it('keeps only a prefix of a large operand in the value, and the operand itself in place', () => {
    const big = Buffer.alloc(1 << 20, 7);
    const run = runPickle(new Cursor(new BufBytes(holding(big))), small);
    expect(run.stopped).toBe(true);
    // the constant is not a pickle: nothing recorded, and the only call-free run holds no copy
    expect(run.embedded).toEqual([]);
    const hidden = runPickle(new Cursor(new BufBytes(holding(Buffer.concat([PAYLOAD, big])))), small);
    expect(hidden.embedded.length).toBe(1);
    expect(hidden.embedded[0]!.at.size).toBe(PAYLOAD.length + big.length);
  });

  it('words and digests that start like a pickle or read as hex/base64 are not kept as nested pickles', () => {
    const parts: Buffer[] = [Buffer.from([0x80, 4, 0x5d, 0x28])]; // PROTO 4, EMPTY_LIST, MARK
    const str = (t: string) => {
      const b = Buffer.from(t);
      const len = Buffer.alloc(4);
      len.writeUInt32LE(b.length);
      parts.push(Buffer.from([0x58]), len, b); // BINUNICODE
    };
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.string({ minLength: 8, maxLength: 40 }), (digest, word) => {
        str(Buffer.from(digest).toString('hex'));
        str(Buffer.from(digest).toString('base64'));
        str(`c${word}`);
        str(`(${word}`);
      }),
      { numRuns: 5000 },
    );
    parts.push(Buffer.from([0x65, 0x2e])); // APPENDS, STOP
    const run = runPickle(new Cursor(new BufBytes(Buffer.concat(parts))), DEFAULT_LIMITS);
    expect(run.stopped).toBe(true);
    expect(run.embedded.length).toBeLessThan(200); // of 20,000: the few kept are words that really read as pickles (a GLOBAL line)
  });

  it('an encoded pickle that runs past a bound of the analysis before its import is a limit (the loader goes on)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ltrack-nested-'));
    try {
      const deep = Buffer.concat([Buffer.from([0x80, 2]), Buffer.alloc(100_001, 0x4e), PAYLOAD.subarray(2)]);
      const path = join(dir, 'deep.pkl');
      writeFileSync(path, holding(Buffer.from(deep.toString('hex'))));
      const r = await scanPaths([path]);
      expect(r.detections.find((d) => d.ruleId === 'LT-LIM-001')?.location?.entry?.[0]).toMatch(/^constant@\d+:hex$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('scanPaths: a hidden encoded pickle is found with its stages in the entry; one too large to decode is a limit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ltrack-nested-'));
    try {
      const hidden = join(dir, 'hidden.pkl');
      writeFileSync(hidden, holding(Buffer.from(deflateSync(PAYLOAD).toString('base64'))));
      const r = await scanPaths([hidden]);
      const hit = r.detections.find((d) => d.ruleId === 'LT-PKL-001');
      expect(hit?.location?.entry?.[0]).toMatch(/^constant@\d+:base64\+zlib$/);

      const bomb = join(dir, 'bomb.pkl');
      writeFileSync(bomb, holding(Buffer.from(deflateSync(Buffer.concat([PAYLOAD.subarray(0, -1), Buffer.alloc(1 << 20, 0x4e)])).toString('base64'))));
      const b = await scanPaths([bomb], { limits: { maxInMemoryBytes: 1 << 16 } });
      expect(b.detections.map((d) => d.ruleId)).toContain('LT-LIM-001');

      const data = join(dir, 'data.pkl');
      // numeric data that starts with opcode bytes is not a nested pickle
      writeFileSync(data, holding(Buffer.concat([Buffer.from('N(K\x01'), Buffer.alloc(100_000, 3)])));
      expect((await scanPaths([data])).detections).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
