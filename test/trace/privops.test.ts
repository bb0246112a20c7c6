import { describe, expect, it } from 'vitest';
import { startTrace } from '../../src/trace/index.js';
import { collect, GATE, PYTHON, spawnGated } from './helpers.js';

// Operations a model load should never do, each attempted harmlessly: invalid arguments make the
// kernel refuse them, and the tracer reports the attempt at syscall entry.
const SCRIPT = `import ctypes, os, socket
libc = ctypes.CDLL(None, use_errno=True)
${GATE}
os.setgid(os.getgid())
os.setuid(os.getuid())
libc.ptrace(0x4206, 1, 0, 0)            # PTRACE_SEIZE of init: refused for a non-tracer
libc.syscall(321, 9999, 0, 0)           # bpf(): an unknown command
libc.syscall(425, 0, 0)                 # io_uring_setup(0 entries): EINVAL
libc.mount(b"none", b"/nonexistent/lt-mnt", b"tmpfs", 0, None)
u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
u.connect_ex('/nonexistent/lt.sock')
b = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
b.bind(('::1', 0))
b.sendto(b'x', ('::1', 9))
os.execv('/bin/true', ['/bin/true'] + ['a' * 200] * 10)
`;

describe('privileged operations, socket families and truncation', () => {
  it('reports each attempt with its syscall and argument', async () => {
    const g = spawnGated(PYTHON, ['-c', SCRIPT]);
    const session = await startTrace({ pid: g.pid });
    g.release();
    const { events } = await collect(session, g.exited);
    expect(g.stderr()).toBe('');
    const of = (kind: string) => events.filter((e) => e.kind === kind);
    expect(of('setid').map((e) => e.op)).toEqual(['setgid', 'setuid']);
    expect(of('ptrace')).toHaveLength(1);
    expect(of('ptrace')[0]!.arg).toBe(0x4206 * 2 ** 32 + 1);
    expect(of('bpf').map((e) => [e.op, e.arg])).toEqual([['bpf', 9999]]);
    expect(of('io_uring').map((e) => [e.op, e.arg])).toEqual([['io_uring_setup', 0]]);
    expect(of('mount')).toHaveLength(1);
    expect(of('mount')[0]).toMatchObject({ op: 'mount', path: '/nonexistent/lt-mnt', pathUnresolved: true });

    const unix = of('connect').filter((e) => e.family === 'unix');
    expect(unix.map((e) => [e.addr, e.ret])).toEqual([['/nonexistent/lt.sock', -2]]);
    const binds = of('bind');
    expect(binds.map((e) => [e.family, e.addr, e.port, e.ret])).toEqual([['inet6', '::1', 0, 0]]);
    const sends = of('sendmsg').filter((e) => e.family === 'inet6');
    expect(sends.map((e) => [e.addr, e.port])).toEqual([['::1', 9]]);

    // 2 KiB of argv is over the 1 KiB bound: cut and flagged
    const exec = of('exec');
    expect(exec).toHaveLength(1);
    expect(exec[0]).toMatchObject({ path: '/usr/bin/true', truncated: true });
    expect(exec[0]!.argv![0]).toBe('/bin/true');
    expect(exec[0]!.argv!.join('\0').length).toBeLessThanOrEqual(1024);
  });
});
