import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { BufBytes } from '../../src/formats/bytes.js';
import { DEFAULT_LIMITS } from '../../src/formats/limits.js';
import { memberData, readZip } from '../../src/formats/zip.js';

/** A stored zip written by CPython's zipfile (the reader numpy's npz loading uses). */
function pyZip(members: Record<string, string>): Buffer {
  const code = `import io, sys, zipfile, json\nb = io.BytesIO()\nwith zipfile.ZipFile(b, "w") as z:\n    for k, v in json.loads(sys.argv[1]).items(): z.writestr(k, v)\nsys.stdout.buffer.write(b.getvalue())`;
  return spawnSync('/usr/bin/python3', ['-c', code, JSON.stringify(members)], { maxBuffer: 1 << 20 }).stdout;
}

describe('zip members as the loaders read them', () => {
  it('bytes between the central directory and the end record (zipfile shifts offsets, torch does not): LT-ZIP-001', () => {
    const zip = pyZip({ 'a.npy': 'x'.repeat(100) });
    const eocd = zip.lastIndexOf(Buffer.from('PK\x05\x06', 'latin1'));
    const shifted = Buffer.concat([zip.subarray(0, eocd), Buffer.from('JUNK'), zip.subarray(eocd)]);
    expect(readZip(new BufBytes(zip), DEFAULT_LIMITS).problems).toEqual([]);
    const r = readZip(new BufBytes(shifted), DEFAULT_LIMITS);
    expect(r.problems.map((p) => p.ruleId)).toContain('LT-ZIP-001');
    expect(r.problems[0]!.message).toMatch(/4 bytes away/);
    // and CPython reads its directory 4 bytes further on than the record says (here: into the junk)
    const check = spawnSync('/usr/bin/python3', ['-c', 'import io,sys,zipfile\ntry: zipfile.ZipFile(io.BytesIO(sys.stdin.buffer.read()))\nexcept zipfile.BadZipFile as e: print(e)'], {
      input: shifted,
    });
    expect(check.stdout.toString()).toMatch(/central directory/i);
  });

  it('a member whose local name differs and whose CRC is wrong is still read from where the loaders read it', () => {
    const zip = Buffer.from(pyZip({ 'data.pkl': 'PAYLOADPAYLOAD' }));
    zip.write('dAta.pkl', 30, 'latin1'); // the local header's name (central directory keeps data.pkl)
    const crcAt = zip.lastIndexOf(Buffer.from('PK\x01\x02', 'latin1')) + 16;
    zip.writeUInt32LE(0xdeadbeef, crcAt);
    const r = readZip(new BufBytes(zip), DEFAULT_LIMITS);
    expect(r.problems.map((p) => p.ruleId)).toEqual(['LT-ZIP-001']);
    const got = memberData(new BufBytes(zip), r.entries[0]!, DEFAULT_LIMITS);
    expect('data' in got && got.data.read(0, 14).toString()).toBe('PAYLOADPAYLOAD');
    expect('data' in got && got.problems.map((p) => p.ruleId)).toEqual(['LT-ZIP-003']);
  });
});
