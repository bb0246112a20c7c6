import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { scanPaths } from '../../src/static/index.js';
import { BufBytes } from '../../src/formats/bytes.js';
import { sniff } from '../../src/formats/sniff.js';
import { decodeLz4Frames } from '../../src/formats/lz4.js';
import { isJoblibZfile, zfileDataOffset } from '../../src/formats/joblib.js';
import { severityRank } from '../../src/core/severity.js';
import { loadRuleSet } from '../../src/rules/index.js';
import { FIXTURES, fixtureIndex } from '../helpers/fixtures.js';
import { readGgufHeader } from '../../src/formats/gguf.js';
import { DEFAULT_LIMITS } from '../../src/formats/limits.js';
import { scanBytes } from '../../src/static/scan.js';
import { defaultPolicy } from '../../src/static/pickle/policy.js';
import { scanTemplateFile } from '../../src/static/template-carriers.js';
import type { Detection } from '../../src/core/finding.js';

const ours = fixtureIndex().filter((e) => e.generator === 'depth_loaders');

describe('static findings on the depth_loaders fixtures', () => {
  it('there is one of each kind', () => {
    expect(ours.map((e) => e.format).sort()).toEqual(['chat-template', 'gguf', 'gguf', 'gguf', 'gguf', 'hdf5', 'joblib', 'joblib', 'joblib', 'joblib', 'tokenizer-config', 'tokenizer-config']);
  });

  it.each(ours.map((e) => [e.file, e] as const))('%s', async (_file, e) => {
    const r = await scanPaths([join(FIXTURES, e.file)]);
    expect(r.targets.map((t) => t.format)).toEqual([e.format]);
    expect(r.targets[0]!.unanalysed).toBeUndefined();
    const ids = r.detections.map((d) => d.ruleId);
    if (e.kind === 'benign') expect(ids).toEqual([]);
    else expect(ids).toContain(e.rule);
  });

  it('every rule the template analysis emits is declared, the payload ones at high or above', async () => {
    const rules = new Map((await loadRuleSet()).rules.map((r) => [r.id, r]));
    for (const id of ['LT-TPL-001', 'LT-TPL-002', 'LT-TPL-003', 'LT-TPL-004']) expect(rules.has(id), id).toBe(true);
    expect(severityRank(rules.get('LT-TPL-001')!.severity)).toBeGreaterThanOrEqual(severityRank('high'));
    expect(severityRank(rules.get('LT-TPL-002')!.severity)).toBeGreaterThanOrEqual(severityRank('high'));
  });
});

/** An LZ4 frame (no checksums, 64 KiB blocks) around raw blocks, each [compressed bytes, stored raw?]. */
function frame(blocks: [Buffer, boolean][]): Buffer {
  const parts: Buffer[] = [Buffer.from([0x04, 0x22, 0x4d, 0x18, 0x40, 0x40, 0x00])];
  for (const [b, raw] of blocks) {
    const n = Buffer.alloc(4);
    n.writeUInt32LE((b.length | (raw ? 0x80000000 : 0)) >>> 0);
    parts.push(n, b);
  }
  parts.push(Buffer.alloc(4));
  return Buffer.concat(parts);
}

describe('LZ4 frames', () => {
  it("decode joblib's lz4 dump to the pickle inside", () => {
    const data = readFileSync(join(FIXTURES, 'depth_loaders', 'model_lz4.joblib'));
    expect(sniff(new BufBytes(data))).toBe('lz4');
    const r = decodeLz4Frames(data, 1 << 20);
    if ('problem' in r) throw new Error(r.problem);
    expect(r.data[0]).toBe(0x80);
    expect(r.data[r.data.length - 1]).toBe(0x2e); // STOP
  });

  it('overlapping matches repeat, stored blocks are copied, linked blocks see the earlier output', () => {
    // "ab" then a match of offset 2, length 4+6=10 -> "ab" * 6; then a stored block "xy"; then a match back into block one
    const one = Buffer.from([0x26, 0x61, 0x62, 0x02, 0x00, 0x10, 0x63]);
    const three = Buffer.from([0x00, 0x0f, 0x00]); // no literals, offset 15: the start of block one
    const r = decodeLz4Frames(
      frame([
        [one, false],
        [Buffer.from('xy'), true],
        [Buffer.concat([three, Buffer.from([0x10, 0x21])]), false],
      ]),
      1 << 20,
    );
    if ('problem' in r) throw new Error(r.problem);
    expect(r.data.toString('latin1')).toBe('abababababab' + 'c' + 'xy' + 'abab' + '!');
  });

  it('a bomb stops at the bound with what was decoded so far', () => {
    // one literal, then a 4 MiB run of it: 15 + 255*n extension bytes
    const run = Buffer.concat([Buffer.from([0x1f, 0x61, 0x01, 0x00]), Buffer.alloc(16_000, 0xff), Buffer.from([0x00, 0x00])]);
    const r = decodeLz4Frames(frame([[run, false]]), 100_000);
    expect('cut' in r && r.cut).toMatch(/larger than 100000 bytes/);
    if ('data' in r) expect(r.data.length).toBeLessThanOrEqual(100_000);
  });

  it('malformed frames are problems, never exceptions', () => {
    expect(decodeLz4Frames(Buffer.from([0x04, 0x22, 0x4d, 0x18, 0x40]), 1000)).toHaveProperty('problem');
    expect(decodeLz4Frames(frame([[Buffer.from([0x00, 0x05, 0x00]), false]]), 1000)).toHaveProperty('problem'); // offset beyond the output
    const magic = Buffer.from([0x04, 0x22, 0x4d, 0x18]);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 1, max: 5000 }), (body, cap) => {
        const r = decodeLz4Frames(Buffer.concat([magic, Buffer.from(body)]), cap);
        if ('data' in r) expect(r.data.length).toBeLessThanOrEqual(cap);
      }),
      { numRuns: 3000 },
    );
  });
});

describe("joblib's pre-0.10 ZF files", () => {
  const pickle = Buffer.from([0x80, 0x02, 0x7d, 0x71, 0x00, 0x2e]);
  const zf = (header: string) => Buffer.concat([Buffer.from(header, 'latin1'), deflateSync(pickle)]);

  it('are sniffed by the prefix and a length Python reads as hex', () => {
    const file = zf('ZF' + '0x6'.padEnd(19));
    expect(isJoblibZfile(file)).toBe(true);
    expect(sniff(new BufBytes(file))).toBe('joblib-zfile');
    expect(zfileDataOffset(file)).toBe(21);
    // joblib <= 0.8.4 wrote one more space
    expect(zfileDataOffset(zf('ZF' + '0x6'.padEnd(19) + ' '))).toBe(22);
    expect(isJoblibZfile(zf('ZF' + 'zz'.padEnd(19)))).toBe(false);
    expect(isJoblibZfile(Buffer.from('ZF'))).toBe(false);
  });

  it('the fixture is read through to its pickle', async () => {
    const r = await scanPaths([join(FIXTURES, 'depth_loaders', 'payload_legacy.joblib')]);
    const hit = r.detections.find((d) => d.ruleId === 'LT-PKL-001');
    expect(hit?.location?.entry).toEqual(['joblib-zfile', 'zlib-content']);
  });
});

/** A GGUF v3 with a vocabulary, bos/eos ids (after the vocabulary, as llama.cpp writes them) and a chat template. */
function gguf(tokens: string[], template: string): Buffer {
  const str = (s: string) => {
    const b = Buffer.from(s, 'utf8');
    const n = Buffer.alloc(8);
    n.writeBigUInt64LE(BigInt(b.length));
    return Buffer.concat([n, b]);
  };
  const u32 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    return b;
  };
  const u64 = (v: number) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    return b;
  };
  const kv = [
    Buffer.concat([str('tokenizer.ggml.tokens'), u32(9), u32(8), u64(tokens.length), ...tokens.map(str)]),
    Buffer.concat([str('tokenizer.ggml.bos_token_id'), u32(4), u32(1)]),
    Buffer.concat([str('tokenizer.ggml.eos_token_id'), u32(4), u32(2)]),
    Buffer.concat([str('tokenizer.chat_template'), u32(8), str(template)]),
  ];
  return Buffer.concat([Buffer.from('GGUF'), u32(3), u64(0), u64(kv.length), ...kv]);
}

describe('special tokens reach the template as variables', () => {
  const scan = (b: Buffer): Detection[] => {
    const out: Detection[] = [];
    scanBytes(new BufBytes(b), [], { file: 'x', limits: DEFAULT_LIMITS, policy: defaultPolicy(), out });
    return out;
  };

  it("GGUF: the vocabulary's entries at the bos and eos ids", () => {
    const h = readGgufHeader(new BufBytes(readFileSync(join(FIXTURES, 'depth_loaders', 'chat_model.gguf'))), DEFAULT_LIMITS);
    if ('problem' in h) throw new Error(h.problem);
    expect([...h.specialTokens]).toEqual([
      ['bos_token', '<s>'],
      ['eos_token', '</s>'],
    ]);
    expect(scan(gguf(['<unk>', '<s>', '</s>'], '{{ bos_token }}{{ messages[0].content }}'))).toEqual([]);
  });

  it('a special token that spells an internal name, and a template that looks it up', () => {
    const found = scan(gguf(['<unk>', '__globals__', '</s>'], '{{ lipsum[bos_token] }}'));
    expect(found.map((d) => d.ruleId).sort()).toEqual(['LT-TPL-001', 'LT-TPL-002', 'LT-TPL-004']);
    expect(found.find((d) => d.ruleId === 'LT-TPL-001')!.evidence).toMatchObject({ key: 'bos_token', name: '__globals__' });
    const config = JSON.stringify({ bos_token: { content: '__init__' }, chat_template: '{{ cycler[bos_token] }}' });
    expect(
      scanTemplateFile('tokenizer-config', Buffer.from(config), 'x', 1 << 20)
        .found.map((d) => d.ruleId)
        .sort(),
    ).toEqual(['LT-TPL-001', 'LT-TPL-002', 'LT-TPL-004']);
  });

  it('a repeated metadata key is a malformed header', () => {
    const twice = gguf(['a'], 'x');
    const h = readGgufHeader(
      new BufBytes(
        Buffer.concat([twice.subarray(0, 16), Buffer.from([5, 0, 0, 0, 0, 0, 0, 0]), twice.subarray(24), twice.subarray(24).subarray(twice.subarray(24).indexOf('tokenizer.chat_template') - 8)]),
      ),
      DEFAULT_LIMITS,
    );
    expect(h).toMatchObject({ problem: expect.stringMatching(/duplicate metadata key/) as string });
  });
});

describe('template carriers are read by their name, whatever their first bytes', () => {
  it('a chat_template.jinja that begins like a protocol-0 pickle is still a template', async () => {
    const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(join(tmpdir(), 'ltrack-tpl-'));
    try {
      await writeFile(join(dir, 'chat_template.jinja'), "chat\nformat\n{{ cycler.__init__.__globals__.os.system('/bin/true') }}");
      const r = await scanPaths([join(dir, 'chat_template.jinja')]);
      expect(r.targets[0]!.format).toBe('chat-template');
      expect(r.detections.map((d) => d.ruleId)).toContain('LT-TPL-001');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
