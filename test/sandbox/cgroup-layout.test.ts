import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseMountinfo, processCgroupDirs } from '../../src/core/cgroup-layout.js';

/** mountinfo lines as the kernel writes them (man 5 proc), one per mount. */
const line = (id: number, mountPoint: string, fstype: string, superOpts: string) => `${id} 22 0:${id} / ${mountPoint} rw,relatime - ${fstype} ${fstype} ${superOpts}`;

const HYBRID = [
  line(30, '/sys/fs/cgroup', 'tmpfs', 'rw,mode=755'),
  line(31, '/sys/fs/cgroup/cpu,cpuacct', 'cgroup', 'rw,cpu,cpuacct'),
  line(34, '/sys/fs/cgroup/memory', 'cgroup', 'rw,memory'),
  line(38, '/sys/fs/cgroup/pids', 'cgroup', 'rw,pids'),
  line(39, '/sys/fs/cgroup/systemd', 'cgroup', 'rw,xattr,name=systemd'),
  line(40, '/sys/fs/cgroup/unified', 'cgroup2', 'rw,nsdelegate'),
].join('\n');

describe('the cgroup layout, detected from mountinfo', () => {
  it('tells hybrid (v1 controllers and a v2 tree), v1 and v2 apart', () => {
    const hybrid = parseMountinfo(HYBRID);
    expect(hybrid.kind).toBe('hybrid');
    expect(hybrid.v2Root).toBe('/sys/fs/cgroup/unified');
    expect(hybrid.v1).toEqual({ cpu: '/sys/fs/cgroup/cpu,cpuacct', cpuacct: '/sys/fs/cgroup/cpu,cpuacct', memory: '/sys/fs/cgroup/memory', pids: '/sys/fs/cgroup/pids' });

    const v1 = parseMountinfo(HYBRID.split('\n').slice(0, -1).join('\n'));
    expect(v1.kind).toBe('v1');
    expect(v1.v2Root).toBeUndefined();

    const v2 = parseMountinfo(line(30, '/sys/fs/cgroup', 'cgroup2', 'rw,nsdelegate,memory_recursiveprot'));
    expect(v2).toEqual({ kind: 'v2', v2Root: '/sys/fs/cgroup', v1: {} });
  });

  it('unescapes mount points with spaces', () => {
    expect(parseMountinfo(line(40, '/mnt/cg\\040two', 'cgroup2', 'rw')).v2Root).toBe('/mnt/cg two');
  });

  it("finds a process's cgroup folders from /proc/<pid>/cgroup, as runc placed them", () => {
    const layout = parseMountinfo(HYBRID);
    const dirs = processCgroupDirs(['12:pids:/docker/abc', '4:memory:/docker/abc', '3:cpu,cpuacct:/docker/abc', '1:name=systemd:/docker/abc', '0::/docker/abc', ''].join('\n'), layout);
    expect(dirs).toEqual({
      v2: '/sys/fs/cgroup/unified/docker/abc',
      v1: { pids: '/sys/fs/cgroup/pids/docker/abc', memory: '/sys/fs/cgroup/memory/docker/abc', cpu: '/sys/fs/cgroup/cpu,cpuacct/docker/abc' },
    });
    // a pure v2 host: one folder, no v1 controllers
    const v2 = parseMountinfo(line(30, '/sys/fs/cgroup', 'cgroup2', 'rw'));
    expect(processCgroupDirs('0::/system.slice/docker-abc.scope\n', v2)).toEqual({ v2: '/sys/fs/cgroup/system.slice/docker-abc.scope', v1: {} });
  });

  it('never throws on arbitrary text, and only reports kinds it knows', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        const layout = parseMountinfo(text);
        expect(['v1', 'v2', 'hybrid']).toContain(layout.kind);
        processCgroupDirs(text, layout);
      }),
    );
  });
});
