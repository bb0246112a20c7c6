import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EVENT_KINDS } from '../../src/core/event.js';
import { LtrackError } from '../../src/core/errors.js';
import { decodeBatch } from '../../src/trace/index.js';
import { netKey, pathKey, inodeKey } from '../../src/trace/maps.js';
import { BODY, HDR, KIND_VALUE } from '../../src/trace/wire.js';

/** Builds a file_open record the way bpf/files.bpf.c does (layout per bpf/ltrack.h). */
function openRecord(path: string, o: { tgid: number; flags: number; ret: number; comm: string; hflags?: number; inode?: number; dev?: number }): Buffer {
  const p = Buffer.from(path, 'utf8');
  const rec = Buffer.alloc(HDR.size + BODY.lt_open.size + p.length);
  rec.writeBigUInt64LE(123456789n, HDR.ts);
  rec.writeBigUInt64LE(4242n, HDR.cgroup);
  rec.writeUInt32LE(rec.length, HDR.recSize);
  rec.writeUInt16LE(KIND_VALUE.file_open, HDR.kind);
  rec.writeUInt16LE(o.hflags ?? 0, HDR.flags);
  rec.writeUInt32LE(o.tgid, HDR.pid);
  rec.writeUInt32LE(o.tgid, HDR.tgid);
  rec.writeUInt32LE(1, HDR.ppid);
  rec.writeUInt32LE(0, HDR.uid);
  rec.writeUInt32LE(7, HDR.mntns);
  rec.writeUInt32LE(1, HDR.count);
  rec.write(o.comm, HDR.comm, HDR.commLen, 'utf8');
  const b = HDR.size;
  rec.writeBigUInt64LE(BigInt(o.inode ?? 0), b + BODY.lt_open.inode);
  rec.writeUInt32LE(o.dev ?? 0, b + BODY.lt_open.dev);
  rec.writeUInt32LE(o.flags, b + BODY.lt_open.flags);
  rec.writeInt32LE(o.ret, b + BODY.lt_open.ret);
  rec.writeUInt16LE(p.length, b + BODY.lt_open.path_len);
  p.copy(rec, b + BODY.lt_open.size);
  return rec;
}

const pathArb = fc.stringMatching(/^\/[a-z0-9._/-]{0,200}$/);

describe('wire decoder', () => {
  it('round-trips file_open records of any path, flags and result', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            path: pathArb,
            tgid: fc.nat(2 ** 22),
            flags: fc.nat(2 ** 31),
            ret: fc.integer({ min: -4095, max: 1 << 20 }),
            comm: fc.stringMatching(/^[a-z]{1,15}$/),
            inode: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
            dev: fc.nat(2 ** 32 - 1),
          }),
          { maxLength: 20 },
        ),
        (recs) => {
          const batch = Buffer.concat(recs.map((r) => openRecord(r.path, r)));
          const out = decodeBatch(batch);
          expect(out.map((e) => ({ path: e.path, tgid: e.tgid, flags: e.flags, ret: e.ret, comm: e.comm, inode: e.inode, dev: e.dev }))).toEqual(
            recs.map((r) => ({ path: r.path, tgid: r.tgid, flags: r.flags, ret: r.ret, comm: r.comm, inode: r.inode, dev: r.dev })),
          );
        },
      ),
    );
  });

  it('turns flag bits into fields and serialises to a plain TraceEvent', () => {
    const [e] = decodeBatch(openRecord('/etc/x', { tgid: 5, flags: 0, ret: -2, comm: 'py', hflags: 1 | 2 }));
    expect(JSON.parse(JSON.stringify(e))).toEqual({
      ts: 123456789,
      kind: 'file_open',
      pid: 5,
      tgid: 5,
      ppid: 1,
      uid: 0,
      cgroup: 4242,
      mntns: 7,
      comm: 'py',
      count: 1,
      path: '/etc/x',
      pathUnresolved: true,
      truncated: true,
      flags: 0,
      ret: -2,
    });
  });

  it('rejects garbage with an internal LtrackError, never another exception or a hang', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        try {
          const out = decodeBatch(Buffer.from(bytes));
          for (const e of out) {
            expect(EVENT_KINDS).toContain(e.kind);
            JSON.stringify(e);
          }
        } catch (err) {
          expect(err).toBeInstanceOf(LtrackError);
          expect((err as LtrackError).code).toBe('internal');
        }
      }),
    );
  });

  it('rejects a record whose strings overrun it', () => {
    const rec = openRecord('/etc/hostname', { tgid: 1, flags: 0, ret: 3, comm: 'x' });
    rec.writeUInt16LE(200, HDR.size + BODY.lt_open.path_len);
    expect(() => decodeBatch(rec)).toThrow(/overruns/);
  });
});

describe('allow-list map keys', () => {
  it('encode IPv4 and IPv6 peers as struct lt_net_key', () => {
    expect(netKey('127.0.0.1', 9).toString('hex')).toBe('7f000001' + '00'.repeat(12) + '0100' + '0900' + '00000000');
    expect(netKey('::1', 443).subarray(0, 16).toString('hex')).toBe('00'.repeat(15) + '01');
    expect(netKey('2001:db8::2:1', 80).subarray(0, 16).toString('hex')).toBe('20010db8000000000000000000020001');
  });
  it('zero-pad paths and refuse what the kernel could never match', () => {
    const k = pathKey('/usr/bin/true');
    expect(k.length).toBe(256);
    expect(k.subarray(0, 13).toString()).toBe('/usr/bin/true');
    expect(k.subarray(13).every((b) => b === 0)).toBe(true);
    expect(() => pathKey('relative')).toThrow(LtrackError);
    expect(() => pathKey('/' + 'a'.repeat(300))).toThrow(LtrackError);
    expect(() => netKey('localhost', 1)).toThrow(LtrackError);
    expect(inodeKey(0xfe00000, 42).toString('hex')).toBe('2a00000000000000' + '0000e00f' + '00000000');
  });
});
