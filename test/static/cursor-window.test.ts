import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BufBytes, Cursor, FileBytes, FileHandle } from '../../src/formats/bytes.js';

type Op = { op: 'byte' } | { op: 'take' | 'skip' | 'view'; n: number } | { op: 'line'; max: number };

/** Runs the ops and returns, per op, a copy of what it gave (take/line results are only valid until the next read). */
function replay(cur: Cursor, ops: Op[]): unknown[] {
  return ops.map((o) => {
    switch (o.op) {
      case 'byte':
        return cur.byte();
      case 'take': {
        const b = cur.take(o.n);
        return b && Buffer.from(b).toString('hex');
      }
      case 'line': {
        const b = cur.line(o.max);
        return b && Buffer.from(b).toString('hex');
      }
      case 'skip':
        return cur.skip(o.n);
      case 'view': {
        const v = cur.view(o.n);
        return v && v.read(0, v.size).toString('hex');
      }
    }
  });
}

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.constant<Op>({ op: 'byte' }),
  fc.record({ op: fc.constantFrom('take' as const, 'skip' as const, 'view' as const), n: fc.nat(40) }),
  fc.record({ op: fc.constant('line' as const), max: fc.nat(40) }),
);

describe('Cursor: a reused window reads the same as the bytes themselves', () => {
  it('over a file with tiny windows, every op gives what the in-memory cursor gives', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ltrack-cursor-'));
    try {
      fc.assert(
        fc.property(
          fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a.map((x) => (x % 5 === 0 ? 10 : x)))),
          fc.array(op, { maxLength: 60 }),
          fc.integer({ min: 1, max: 16 }),
          (data, ops, win) => {
            const path = join(dir, 'data');
            writeFileSync(path, data);
            const h = new FileHandle(path);
            try {
              expect(replay(new Cursor(new FileBytes(h, 0, data.length), 0, win), ops)).toEqual(replay(new Cursor(new BufBytes(data), 0, win), ops));
            } finally {
              h.close();
            }
          },
        ),
        { numRuns: 300 },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
