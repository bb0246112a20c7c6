import { describe, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { BufBytes } from '../../src/formats/bytes.js';
import { DEFAULT_LIMITS } from '../../src/formats/limits.js';
import { readGgufHeader } from '../../src/formats/gguf.js';
import { readZip } from '../../src/formats/zip.js';
import { readNpyHeader } from '../../src/formats/npy.js';
import { checkSafetensors } from '../../src/formats/safetensors.js';
import { scanBytes } from '../../src/static/scan.js';
import { defaultPolicy } from '../../src/static/pickle/policy.js';
import { projectPath } from '../../src/core/paths.js';
import type { Detection } from '../../src/core/finding.js';

const scan = (b: Buffer): Detection[] => {
  const out: Detection[] = [];
  scanBytes(new BufBytes(b), [], { file: 'x', limits: DEFAULT_LIMITS, policy: defaultPolicy(), out });
  return out;
};

/** Real files of each format, to mutate: fixtures and regression files the suite already has. */
const SEEDS = [
  'fixtures/out/benign/torch_state_dict.pt',
  'fixtures/out/benign/arrays.npz',
  'fixtures/out/benign/array.npy',
  'test/regressions/none.benign-chat-template.gguf',
  'test/regressions/LT-ST-001.overlap.safetensors',
  'fixtures/out/benign/sklearn_logreg.joblib',
].map((p) => readFileSync(projectPath(p)));

describe('format readers on random and mutated bytes (no throw, no hang)', () => {
  it('every reader, on random bytes behind each magic', () => {
    const magics = ['PK\x03\x04', '\x93NUMPY\x01\x00', 'GGUF', '\x80\x04', '\x1f\x8b', 'x\x9c', '\x89HDF\r\n\x1a\n', ''].map((m) => Buffer.from(m, 'latin1'));
    fc.assert(
      fc.property(fc.constantFrom(...magics), fc.uint8Array({ maxLength: 400 }), (magic, body) => {
        const b = Buffer.concat([magic, Buffer.from(body)]);
        scan(b);
        readZip(new BufBytes(b), DEFAULT_LIMITS);
        readNpyHeader(new BufBytes(b), DEFAULT_LIMITS);
        readGgufHeader(new BufBytes(b), DEFAULT_LIMITS);
        if (b.length >= 8) checkSafetensors(new BufBytes(b), DEFAULT_LIMITS);
      }),
      { numRuns: 3000 },
    );
  });

  it('real files with bytes flipped, truncated or cut', () => {
    fc.assert(
      fc.property(fc.constantFrom(...SEEDS), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), fc.nat(), (seed, flips, cut) => {
        const b = Buffer.from(seed.subarray(0, seed.length - (cut % Math.max(1, seed.length))));
        for (const [i, v] of flips) if (b.length) b[i % b.length] = v;
        scan(b);
      }),
      { numRuns: 1500 },
    );
  });
});
