import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BufBytes } from '../../src/formats/bytes.js';
import { resolveLimits } from '../../src/formats/limits.js';
import { readTar } from '../../src/formats/tar.js';
import { FIXTURES } from '../helpers/fixtures.js';

const limits = resolveLimits();
const real = () => readFileSync(join(FIXTURES, 'tricks', 'legacy_tar_checkpoint.pt'));

describe('tar reader', () => {
  it("lists the legacy torch archive's members with their offsets", () => {
    const bytes = real();
    const { members, problems } = readTar(new BufBytes(bytes), limits);
    expect(problems).toEqual([]);
    expect(members.map((m) => m.name)).toEqual(['sys_info', 'storages', 'tensors', 'pickle']);
    const pickleMember = members.find((m) => m.name === 'pickle')!;
    expect(bytes[pickleMember.offset]).toBe(0x80); // PROTO
  });

  it('stops at a header whose checksum fails, and at a size past the end', () => {
    const bytes = real();
    const bad = Buffer.from(bytes);
    bad.writeUInt8(bad.readUInt8(0) ^ 0xff, 0); // corrupts the first header byte, so its checksum fails
    expect(readTar(new BufBytes(bad), limits).problems[0]).toMatch(/checksum/);
    const cut = bytes.subarray(0, 1024 + 100);
    expect(readTar(new BufBytes(cut), limits).problems.join()).toMatch(/past the end|checksum|ends inside a header/);
  });

  it('never throws on random or mutated archives', () => {
    const bytes = real();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.nat(bytes.length - 1), (noise, at) => {
        const mutated = Buffer.from(bytes);
        mutated.set(noise.subarray(0, bytes.length - at), at);
        readTar(new BufBytes(mutated), limits);
        readTar(new BufBytes(Buffer.from(noise)), limits);
      }),
      { numRuns: 300 },
    );
  });
});
