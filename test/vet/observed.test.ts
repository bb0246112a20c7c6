import { describe, expect, it } from 'vitest';
import { isWriteOpen, summarise } from '../../src/vet/observed.js';
import type { TraceEvent } from '../../src/core/event.js';

const base = { pid: 7, tgid: 7, ppid: 1, uid: 65534, cgroup: 1, mntns: 1, comm: 'python3', count: 1, ts: 0 } as const;

describe('isWriteOpen', () => {
  it('knows read-only opens from writes, creates and truncations', () => {
    expect(isWriteOpen(0)).toBe(false); // O_RDONLY
    expect(isWriteOpen(0o2000000)).toBe(false); // O_RDONLY|O_CLOEXEC
    expect(isWriteOpen(1)).toBe(true); // O_WRONLY
    expect(isWriteOpen(2)).toBe(true); // O_RDWR
    expect(isWriteOpen(0o100)).toBe(true); // O_CREAT alone
    expect(isWriteOpen(0o1000)).toBe(true); // O_TRUNC alone
  });
});

describe('summarise', () => {
  it('splits opens, drops failed ones, de-duplicates and sorts', () => {
    const events: TraceEvent[] = [
      { ...base, kind: 'file_open', path: '/b', flags: 0, ret: 3 },
      { ...base, kind: 'file_open', path: '/a', flags: 0, ret: 3 },
      { ...base, kind: 'file_open', path: '/a', flags: 0, ret: 4 },
      { ...base, kind: 'file_open', path: '/tmp/x', flags: 0o101, ret: 5 },
      { ...base, kind: 'file_open', path: '/nope', flags: 0, ret: -2 },
      { ...base, kind: 'mmap_exec', path: '/usr/lib/x86_64-linux-gnu/libm.so.6' },
      { ...base, kind: 'exec', path: '/bin/true', argv: ['/bin/true'], phase: 'load' },
      { ...base, kind: 'exec', path: '/bin/true', argv: ['/bin/true'], phase: 'load' },
      { ...base, kind: 'connect', family: 'inet', addr: '127.0.0.1', port: 9, ret: -111, phase: 'load' },
      { ...base, kind: 'connect', family: 'inet', addr: '10.0.0.1', port: 443, ret: -1, phase: 'load' },
    ];
    const o = summarise(events, [
      { name: 'zeta', version: '1' },
      { name: 'alpha', version: '2' },
    ]);
    expect(o.filesRead).toEqual(['/a', '/b']);
    expect(o.filesWritten).toEqual(['/tmp/x']);
    expect(o.librariesMapped).toEqual([{ path: '/usr/lib/x86_64-linux-gnu/libm.so.6' }]);
    expect(o.exec).toEqual([{ path: '/bin/true', argv: ['/bin/true'], phase: 'load' }]);
    expect(o.network).toEqual([
      { kind: 'connect', family: 'inet', addr: '127.0.0.1', port: 9, phase: 'load', denied: false },
      { kind: 'connect', family: 'inet', addr: '10.0.0.1', port: 443, phase: 'load', denied: true },
    ]);
    expect(o.packages.map((p) => p.name)).toEqual(['alpha', 'zeta']);
  });
});
