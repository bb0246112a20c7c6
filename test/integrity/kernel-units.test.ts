import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TraceEvent } from '../../src/core/event.js';
import { kernelDev } from '../../src/trace/identity.js';
import type { SandboxResult, SinkRecord } from '../../src/sandbox/index.js';
import { markDecoys } from '../../src/vet/decoys.js';
import { sinkholeFindings } from '../../src/vet/sinkhole.js';

const ev = (e: Partial<TraceEvent>): TraceEvent => ({ ts: 1, kind: 'file_open', pid: 7, tgid: 7, ppid: 1, uid: 65534, cgroup: 1, mntns: 1, comm: 'python3', count: 1, phase: 'load', ...e });

/** glibc's makedev(3): how a stat(2) st_dev lays out major and minor. */
const makedev = (major: bigint, minor: bigint): bigint => ((major & 0xfffn) << 8n) | ((major & ~0xfffn) << 32n) | (minor & 0xffn) | ((minor & ~0xffn) << 12n);

describe('kernelDev: a stat st_dev in the kernel s_dev encoding BPF reads', () => {
  it('is major << 20 | minor for every major and minor the kernel can hold', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xfff }), fc.integer({ min: 0, max: 0xfffff }), (major, minor) => {
        expect(kernelDev(makedev(BigInt(major), BigInt(minor)))).toBe(((major << 20) | minor) >>> 0);
      }),
    );
  });
  it('maps a virtio disk (254:0, st_dev 0xfe00) and an anonymous tmpfs device (0:45)', () => {
    expect(kernelDev(0xfe00n)).toBe(254 << 20);
    expect(kernelDev(45n)).toBe(45);
  });
});

describe('markDecoys', () => {
  const decoys = [{ path: '/home/ltrack/.ssh/id_rsa', inode: 1234, dev: 254 << 20 }];
  it('marks every open of the decoy inode on its device, whatever the path', () => {
    const events = [
      ev({ path: '/home/ltrack/.k/id_rsa', inode: 1234, dev: 254 << 20 }),
      ev({ path: '/proc/self/root/home/ltrack/.ssh/id_rsa', inode: 1234, dev: 254 << 20 }),
      ev({ path: '/home/ltrack/.ssh/id_rsa', inode: 1234, dev: 253 << 20 }), // same inode number, another file system
      ev({ path: '/home/ltrack/.ssh/id_rsa', ret: -2 }), // a failed open names no file
      ev({ kind: 'mmap_exec', path: '/x', inode: 1234, dev: 254 << 20 }),
    ];
    expect(markDecoys(events, decoys)).toBe(2);
    expect(events.map((e) => e.decoy)).toEqual(['/home/ltrack/.ssh/id_rsa', '/home/ltrack/.ssh/id_rsa', undefined, undefined, undefined]);
  });
});

describe('sinkhole cross-check: a capture no traced call explains is LT-NET-006', () => {
  const sandbox = (sinkhole: SinkRecord[]): SandboxResult => ({ phases: [{ phase: 'load', startNs: 0, endNs: 1e12, ok: true }], sinkhole, decoys: [] }) as unknown as SandboxResult;
  const dns: SinkRecord = { proto: 'dns', ts: 5, name: 'x.ltrack.invalid', qtype: 1, bytes: Buffer.from('q').toString('base64'), size: 1 };
  const tcp: SinkRecord = { proto: 'tcp', ts: 5, dst: '127.0.0.1', port: 9, bytes: Buffer.from('hi').toString('base64'), size: 2 };
  const ids = (s: SinkRecord[], events: TraceEvent[]) => sinkholeFindings(sandbox(s), events).detections.map((d) => d.ruleId);

  it('flags captures with no traced connect or send to that peer', () => {
    expect(ids([dns, tcp], [])).toEqual(['LT-NET-006', 'LT-NET-006']);
    expect(ids([tcp], [ev({ kind: 'connect', family: 'inet', addr: '127.0.0.1', port: 10 })])).toEqual(['LT-NET-006']);
    expect(ids([tcp], [ev({ kind: 'connect', family: 'inet', addr: '127.0.0.2', port: 9 })])).toEqual(['LT-NET-006']);
  });
  it('accepts a traced call as explanation for every capture it covers (a connected socket sends many)', () => {
    const connected = ev({ kind: 'connect', family: 'inet', addr: '127.0.0.1', port: 53 });
    expect(ids([dns, { ...dns, ts: 6 }], [connected])).toEqual([]);
    expect(ids([tcp], [ev({ kind: 'connect', family: 'inet6', addr: '::ffff:127.0.0.1', port: 9 })])).toEqual([]);
    expect(ids([tcp], [ev({ kind: 'connect', family: 'inet6', addr: '::ffff:7f00:1', port: 9 })])).toEqual([]);
    expect(ids([tcp], [ev({ kind: 'sendmsg', family: 'inet', addr: '127.0.0.1', port: 9 })])).toEqual([]);
  });
  it('keeps the decoy exfiltration finding alongside', () => {
    const leak: SinkRecord = { ...tcp, bytes: Buffer.from('LTRACK-DECOY').toString('base64'), size: 12 };
    expect(ids([leak], [ev({ kind: 'connect', family: 'inet', addr: '127.0.0.1', port: 9 })])).toEqual(['LT-NET-005']);
  });
});
