import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync, gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { stageBase } from '../../src/intake/stage.js';
import { scanPaths } from '../../src/static/index.js';

// A whole file that is one compressed stream over the in-memory limit (a joblib dump with
// compress=3) is unpacked to a private spill file and its content analysed (src/static/spill.ts).
// The limit is lowered here so that small files take that path.

const work = mkdtempSync(join(tmpdir(), 'ltrack-spill-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const LIMITS = { maxInMemoryBytes: 64 << 10 };
const ownStagings = () => readdirSync(stageBase()).filter((n) => n.startsWith(`${process.pid}-`));

/** A protocol-2 pickle: a 300 KB random BINBYTES popped, then either None or os.system('/bin/true'). */
function pickle(evil: boolean): Buffer {
  const blob = randomBytes(300_000);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(blob.length);
  const tail = evil ? Buffer.from("cos\nsystem\n(S'/bin/true'\ntR.", 'latin1') : Buffer.from('N.', 'latin1');
  return Buffer.concat([Buffer.from([0x80, 0x03, 0x42]), len, blob, Buffer.from('0', 'latin1'), tail]);
}

function tool(name: string, args: string[], input: Buffer): Buffer {
  const r = spawnSync(name, args, { input, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${name} failed: ${r.stderr.toString()}`);
  return r.stdout;
}

const compress: Record<string, (b: Buffer) => Buffer> = {
  zlib: (b) => deflateSync(b),
  gzip: (b) => gzipSync(b),
  bz2: (b) => tool('bzip2', ['-c'], b),
  xz: (b) => tool('xz', ['-c'], b),
  lzma: (b) => tool('xz', ['-c', '--format=lzma'], b),
};

describe('a compressed stream too large for memory is unpacked to a spill file and analysed', () => {
  for (const [kind, pack] of Object.entries(compress)) {
    it(`${kind}: the payload inside is found, the benign one passes, nothing is left behind`, async () => {
      const evil = join(work, `evil.${kind}.joblib`);
      const benign = join(work, `benign.${kind}.joblib`);
      writeFileSync(evil, pack(pickle(true)));
      writeFileSync(benign, pack(pickle(false)));
      const r = await scanPaths([evil, benign], { limits: LIMITS });
      const hit = r.detections.find((d) => d.ruleId === 'LT-PKL-001');
      expect(hit?.location).toMatchObject({ file: evil, entry: [`${kind}-content`] });
      expect(r.detections.filter((d) => d.location?.file === benign)).toEqual([]);
      expect(r.targets.find((t) => t.path === benign)).toMatchObject({ format: 'joblib' });
      expect(r.incomplete).toEqual([]);
      expect(ownStagings()).toEqual([]);
    });
  }

  it('joblib before 0.10 (a ZF header, then zlib): unpacked from after its header', async () => {
    const z = deflateSync(pickle(true));
    const file = join(work, 'old.joblib');
    writeFileSync(file, Buffer.concat([Buffer.from(`ZF0x${z.length.toString(16)}`.padEnd(21, ' '), 'latin1'), z]));
    const r = await scanPaths([file], { limits: LIMITS });
    expect(r.detections.find((d) => d.ruleId === 'LT-PKL-001')?.location?.entry).toEqual(['joblib-zfile', 'zlib-content']);
  });

  it('a bomb is cut at the ratio bound (a limit finding), and a corrupt stream is a format finding', async () => {
    const bomb = join(work, 'bomb.gz');
    writeFileSync(bomb, Buffer.concat([gzipSync(Buffer.alloc(64 << 20)), randomBytes(70 << 10)]));
    const b = await scanPaths([bomb], { limits: { ...LIMITS, maxCompressionRatio: 4 } });
    expect(b.detections.find((d) => d.ruleId === 'LT-LIM-001')?.message).toMatch(/only its first \d+ bytes were analysed/);
    const corrupt = join(work, 'corrupt.zlib');
    const z = deflateSync(randomBytes(200_000));
    z.fill(0x55, 100, 4000);
    writeFileSync(corrupt, z);
    const c = await scanPaths([corrupt], { limits: LIMITS });
    expect(c.detections.find((d) => d.ruleId === 'LT-FMT-001')?.message).toMatch(/malformed zlib stream/);
    const bz = join(work, 'corrupt.bz2');
    const packed = compress.bz2!(randomBytes(200_000));
    packed.fill(0x55, 100, 4000);
    writeFileSync(bz, packed);
    const d = await scanPaths([bz], { limits: LIMITS });
    expect(d.detections.find((x) => x.ruleId === 'LT-FMT-001')?.message).toMatch(/malformed bz2 stream/);
    expect(ownStagings()).toEqual([]);
  });
});
