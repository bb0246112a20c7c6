import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { sniff } from '../../src/formats/sniff.js';
import { BufBytes } from '../../src/formats/bytes.js';
import { enumerateCandidate } from '../../src/intake/enumerate.js';
import { copyHashed } from '../../src/intake/copy.js';
import { stageBase, stageCandidates } from '../../src/intake/stage.js';
import { loaderOpensByName } from '../../src/intake/loader-names.js';
import { scanPaths } from '../../src/static/index.js';
import { unaccounted, vet } from '../../src/vet/index.js';
import { buildManifest } from '../../src/manifest/index.js';
import { validateReport } from '../../src/report/index.js';
import type { Report } from '../../src/core/report.js';
import { LtrackError } from '../../src/core/errors.js';

const work = mkdtempSync(join(tmpdir(), 'ltrack-intake-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
/** Staging areas of this process still on disk (each vet removes its own). */
const ownStagings = () => readdirSync(stageBase()).filter((n) => n.startsWith(`${process.pid}-`));

function mkfifo(path: string): void {
  const r = spawnSync('mkfifo', [path]);
  if (r.status !== 0) throw new Error(`mkfifo failed: ${r.stderr.toString()}`);
}

describe('sniffing: every pickle CPython writes is a pickle', () => {
  // One Python process pickles every generated value at every protocol 0..5 (plain data only).
  it('values pickled at protocols 0-5 all sniff as pickle', () => {
    const values = fc.sample(
      fc.jsonValue({ maxDepth: 3 }).map((v) => ({ v })),
      { numRuns: 150, seed: 12 },
    );
    const script = 'import json,pickle,sys\nfor v in json.load(sys.stdin):\n  for p in range(6): sys.stdout.write(pickle.dumps(v["v"],protocol=p).hex()+"\\n")\n';
    const r = spawnSync('/usr/bin/python3', ['-c', script], { input: JSON.stringify(values), encoding: 'utf8', maxBuffer: 64 << 20 });
    expect(r.status, r.stderr).toBe(0);
    const streams = r.stdout.trim().split('\n');
    expect(streams.length).toBe(values.length * 6);
    const missed = streams.filter((hex) => sniff(new BufBytes(Buffer.from(hex, 'hex'))) !== 'pickle');
    expect(missed.slice(0, 3)).toEqual([]);
  });

  it('streams that begin with any push opcode the C unpickler accepts first', () => {
    // each: first opcode (with its operand), POP, then the payload-free tail `}.`
    const starts = [
      '\x80\x01',
      '\x80\x00',
      'I0x1\n',
      'I42\n',
      'J\x01\x00\x00\x00',
      'K\x01',
      'M\x01\x00',
      'L5\n',
      '\x8a\x01\x05',
      '\x8b\x01\x00\x00\x00\x05',
      'F1.0\n',
      'G\x3f\xf0\x00\x00\x00\x00\x00\x00',
      'N',
      '\x88',
      '\x89',
      'C\x01x',
      'B\x01\x00\x00\x00x',
      '\x8c\x01x',
      'X\x01\x00\x00\x00x',
      "S'x'\n",
      'U\x01x',
      'Vx\n',
      '\x8f',
      ')',
      ']',
      '}',
      'cbuiltins\nlist\n',
    ];
    for (const s of starts) {
      const data = Buffer.concat([Buffer.from(s, 'latin1'), Buffer.from('0}.', 'latin1')]);
      expect(sniff(new BufBytes(data)), JSON.stringify(s)).toBe('pickle');
    }
    // and plain text that is no pickle is not called one
    expect(sniff(new BufBytes(Buffer.from('# README\nhello\n')))).toBe('unknown');
  });
});

describe('enumeration: every entry accounted for, nothing non-regular read', () => {
  it('a FIFO, a socket-like device or /dev/zero is bad input before any read', async () => {
    const fifo = join(work, 'pipe.pkl');
    mkfifo(fifo);
    for (const p of [fifo, '/dev/zero', '/dev/urandom']) {
      const err = await enumerateCandidate(p, 100).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LtrackError);
      expect((err as LtrackError).code).toBe('bad_input');
      expect((err as LtrackError).file).toBe(p);
    }
    const dir = join(work, 'with-fifo');
    mkdirSync(dir);
    writeFileSync(join(dir, 'a.pkl'), 'N.');
    mkfifo(join(dir, 'b.pkl'));
    await expect(enumerateCandidate(dir, 100)).rejects.toMatchObject({ code: 'bad_input', file: join(dir, 'b.pkl') });
  });

  it('symlinks: resolved inside the root (HF cache snapshot -> blobs), a finding outside, dangling and folder links named', async () => {
    const repo = join(work, 'hub', 'models--o--n');
    const snap = join(repo, 'snapshots', 'c0ffee');
    mkdirSync(join(repo, 'blobs'), { recursive: true });
    mkdirSync(join(snap, 'sub'), { recursive: true });
    writeFileSync(join(repo, 'blobs', 'b1'), 'N.');
    writeFileSync(join(work, 'secret'), 'x');
    symlinkSync('../../blobs/b1', join(snap, 'pytorch_model.bin'));
    symlinkSync(join(work, 'secret'), join(snap, 'leak.pkl'));
    symlinkSync('nowhere', join(snap, 'dangling.pkl'));
    symlinkSync('sub', join(snap, 'subdir'));
    writeFileSync(join(snap, 'sub', 'x.npy'), 'y');
    const c = await enumerateCandidate(snap, 100);
    expect(c.files.map((f) => [f.rel, f.linkTo])).toEqual([
      ['pytorch_model.bin', 'blobs/b1'],
      ['sub/x.npy', undefined],
    ]);
    const by = Object.fromEntries(c.skipped.map((s) => [s.path.slice(snap.length + 1), s.effect]));
    expect(by).toEqual({ 'leak.pkl': 'finding', 'dangling.pkl': 'none', subdir: 'incomplete' });
    // the same link out of a plain folder (not an HF snapshot) leaves the root
    const plain = join(work, 'plain');
    mkdirSync(plain);
    symlinkSync(join(repo, 'blobs', 'b1'), join(plain, 'w.pkl'));
    expect((await enumerateCandidate(plain, 100)).skipped[0]).toMatchObject({ effect: 'finding' });
  });
});

describe('staging: one copy, hashed while copying, removed on every path', () => {
  it('the copy is byte-identical, read-only, and its digest is that of the bytes', async () => {
    const src = join(work, 'bytes.bin');
    const data = Buffer.alloc(3 * (1 << 20) + 17, 7);
    data.write('tail', data.length - 4);
    writeFileSync(src, data);
    const s = await stageCandidates([src], { maxFiles: 10 });
    try {
      const f = s.files[0]!;
      expect(f.sha256).toBe(sha(data));
      expect(f.size).toBe(data.length);
      expect(readFileSync(f.staged).equals(data)).toBe(true);
      expect(f.staged.startsWith(stageBase())).toBe(true);
    } finally {
      await s.cleanup();
    }
    expect(ownStagings()).toEqual([]);
  });

  it('a FIFO raced in after enumeration fails the copy without blocking, and the staging area is gone', async () => {
    const dir = join(work, 'race');
    mkdirSync(dir);
    writeFileSync(join(dir, 'a.pkl'), 'N.');
    writeFileSync(join(dir, 'b.pkl'), 'N.');
    const swap = () => {
      unlinkSync(join(dir, 'b.pkl'));
      mkfifo(join(dir, 'b.pkl'));
    };
    // the first progress message comes after enumeration, before the first copy
    const err = await stageCandidates([dir], { maxFiles: 10, onProgress: swap }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'bad_input', file: join(dir, 'b.pkl') });
    expect(ownStagings()).toEqual([]);
  });

  it('a vet that fails after staging (its --deps is a folder) leaves no staging area behind', async () => {
    const model = join(work, 'plain.pkl');
    writeFileSync(model, 'N.');
    const depsDir = join(work, 'deps-folder');
    mkdirSync(depsDir);
    const err = await vet({ paths: [model], deps: depsDir, staticOnly: true, sandbox: 'auto', network: 'none', timeoutSec: 60, failOn: 'high', onProgress: () => undefined }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'bad_input', file: depsDir });
    expect(ownStagings()).toEqual([]);
  });

  it.each([
    ['small (read, hashed and written here)', 1000],
    ['large (copied by the kernel, the copy hashed)', 12 << 20],
  ])('a %s file that grows while it is copied is copied up to the size it had: the copy is bounded', async (_, size) => {
    const src = join(work, `grows-${size}.bin`);
    writeFileSync(src, Buffer.alloc(size, 1));
    const dest = join(work, `grows-${size}.copy`);
    const fd = openSync(src, 'a');
    try {
      const copying = copyHashed(src, dest, src);
      writeSync(fd, Buffer.alloc(5000, 2));
      const c = await copying;
      const copy = readFileSync(dest);
      expect(c.size).toBe(copy.length);
      expect(c.size).toBeLessThanOrEqual(size + 5000);
      expect(c.sha256).toBe(sha(copy));
    } finally {
      closeSync(fd);
    }
  });

  it('a large file is copied by the kernel byte for byte, and the digest is that of the copy', async () => {
    const src = join(work, 'kernel-copy.bin');
    const data = randomBytes(9 << 20);
    writeFileSync(src, data);
    const dest = join(work, 'kernel-copy.copy');
    const c = await copyHashed(src, dest, src);
    expect(readFileSync(dest).equals(data)).toBe(true);
    expect(c).toEqual({ sha256: sha(data), size: data.length });
  });

  it('a multi-GB file stages with bounded memory and the digest sha256sum gives', async () => {
    const big = join(work, 'big.bin');
    const fd = openSync(big, 'w');
    ftruncateSync(fd, 2 ** 31 + 4096 * 3 + 5); // past 2 GiB: 32-bit offsets would wrap
    writeSync(fd, Buffer.from('end'), 0, 3, 2 ** 31 + 4096 * 3 + 2);
    closeSync(fd);
    const expected = spawnSync('sha256sum', [big], { encoding: 'utf8' }).stdout.split(' ')[0];
    const rss0 = process.memoryUsage().rss;
    let peak = rss0;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
    const s = await stageCandidates([big], { maxFiles: 10 }).finally(() => clearInterval(timer));
    try {
      expect(s.files[0]!.sha256).toBe(expected);
      expect(s.files[0]!.size).toBe(2 ** 31 + 4096 * 3 + 5);
      expect(peak - rss0).toBeLessThan(256 * 2 ** 20);
    } finally {
      await s.cleanup();
      rmSync(big);
    }
  });
});

describe('accounting: files nobody analysed', () => {
  it('names which files were not analysed; a loader-named one makes the vet incomplete', async () => {
    const dir = join(work, 'acct');
    mkdirSync(dir);
    writeFileSync(join(dir, 'README.md'), '# tiny\n');
    writeFileSync(join(dir, 'pytorch_model.bin'), Buffer.from([0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3]));
    writeFileSync(join(dir, 'tokenizer.model'), Buffer.from([0xde, 0xad, 0, 0]));
    // an INT form CPython's C unpickler accepts (strtol base 0) under a pickle's name
    writeFileSync(join(dir, 'hex.pkl'), Buffer.from("I0x2a\n0cos\nsystem\n(S'/bin/true'\ntR0}.", 'latin1'));
    const r = await scanPaths([dir]);
    const t = Object.fromEntries(r.targets.map((x) => [x.path.slice(dir.length + 1), x]));
    expect(Object.keys(t).sort()).toEqual(['README.md', 'hex.pkl', 'pytorch_model.bin', 'tokenizer.model']);
    expect(t['README.md']).toMatchObject({ format: 'text' });
    expect(t['README.md']!.unanalysed).toBeUndefined();
    expect(t['pytorch_model.bin']!.unanalysed).toMatch(/not recognised/);
    expect(t['tokenizer.model']!.unanalysed).toMatch(/not recognised/);
    const reasons = unaccounted(r.targets, r.skipped);
    expect(reasons.some((x) => x.includes('pytorch_model.bin'))).toBe(true);
    expect(reasons.some((x) => x.includes('tokenizer.model') || x.includes('README.md'))).toBe(false);
    // hex.pkl: either the interpreter reads it as the pickle it is (and blocks it), or it is unanalysed
    // under a loader's name (incomplete) — never a silent pass
    const hexBlocked = r.detections.some((d) => d.location?.file === join(dir, 'hex.pkl') && d.ruleId === 'LT-PKL-001');
    expect(hexBlocked || reasons.some((x) => x.includes('hex.pkl'))).toBe(true);
    expect(loaderOpensByName('model-00001-of-00002.safetensors')).toBe(true);
    expect(loaderOpensByName('config.json')).toBe(false);
  });

  it('a report with unanalysed and skipped entries is schema-valid; a manifest refuses an unanalysed subject', async () => {
    const f = join(work, 'opaque.bin');
    writeFileSync(f, Buffer.from([1, 2, 3]));
    const report: Report = {
      version: '1.0.0',
      tool: { name: 'ltrack', version: '0' },
      startedAt: new Date().toISOString(),
      targets: [{ path: f, sha256: sha(Buffer.from([1, 2, 3])), size: 3, format: 'unknown', unanalysed: 'content not recognised' }],
      skipped: [{ path: join(work, 'x'), reason: 'dangling symlink', effect: 'none' }],
      verdict: { status: 'pass', severity: 'info', score: 0, failOn: 'high', reasons: [] },
      findings: [],
      observed: { filesRead: [], filesWritten: [], librariesMapped: [], exec: [], network: [], packages: [] },
      stats: { events: 0, drops: 0, tracerTiers: [], sandbox: 'none', durationsMs: {} },
      rulesetDigest: '0'.repeat(64),
    };
    expect(() => validateReport(report)).not.toThrow();
    await expect(buildManifest(report, { files: [f] })).rejects.toThrow(/not analysed/);
  });

  it('a file that is both a safetensors header and a pickle is analysed as the pickle too', async () => {
    // BINBYTES of 4 bytes whose last is '{': the first 8 bytes read as a small safetensors header
    // length (1090) and byte 8 opens its JSON, while pickle.load sees bytes, POP, os.system, STOP.
    const body = Buffer.from("0cos\nsystem\n(S'/bin/true'\ntR0}.", 'latin1');
    const head = Buffer.from([0x42, 0x04, 0, 0, 0, 0, 0, 0, 0x7b]);
    const file = join(work, 'model.safetensors');
    writeFileSync(file, Buffer.concat([head, body, Buffer.alloc(1200, 0x20)]));
    const r = await scanPaths([file]);
    expect(r.targets[0]!.format).toBe('safetensors');
    const hit = r.detections.find((d) => d.ruleId === 'LT-PKL-001');
    expect(hit?.message).toMatch(/read as a pickle \(the content is also safetensors\)/);
    // and a real safetensors file whose length byte happens to be an opcode adds nothing
    const json = Buffer.from(JSON.stringify({ t: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }).padEnd(0x4a, ' '));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    const clean = join(work, 'clean.safetensors');
    writeFileSync(clean, Buffer.concat([len, json, Buffer.alloc(4)]));
    const c = await scanPaths([clean]);
    expect(c.targets[0]!.format).toBe('safetensors');
    expect(c.detections).toEqual([]);
  });
});
