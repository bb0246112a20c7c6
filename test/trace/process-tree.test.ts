import { describe, expect, it } from 'vitest';
import { startTrace } from '../../src/trace/index.js';
import type { TraceEvent } from '../../src/core/event.js';
import { collect, GATE, PYTHON, spawnGated } from './helpers.js';

// What a traced model load might do, each exactly once. libm is linked into /usr/bin/python3
// already (a ctypes dlopen of it maps nothing new), so the dlopen is of libbz2, which is not.
const SCRIPT = `${GATE}
import ctypes, os, socket, subprocess
f = open('/etc/hostname', 'rb')
try: open('/nonexistent/lt-missing')
except FileNotFoundError: pass
ctypes.CDLL('libbz2.so.1.0')
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
print('connect', s.connect_ex(('127.0.0.1', 9)))
subprocess.run(['/bin/sh', '-c', '/bin/true; exit 0'], check=True)
a, b = socket.socketpair()
print('sent', os.sendfile(a.fileno(), f.fileno(), 0, 5))
r, w = os.pipe()
print('spliced', os.splice(f.fileno(), w, 3, offset_src=0))
m = os.memfd_create('lt-true', 0)
os.write(m, open('/bin/true', 'rb').read())
subprocess.run(['/proc/self/fd/%d' % m], pass_fds=(m,), check=True)
print('done')
`;

const only = (events: TraceEvent[], pred: (e: TraceEvent) => boolean) => events.filter(pred);

describe('tracer on the real kernel: a traced Python process tree', () => {
  it('sees each action once with its fields and parentage, and nothing of an untraced sibling', async () => {
    const traced = spawnGated(PYTHON, ['-c', SCRIPT]);
    const sibling = spawnGated(PYTHON, ['-c', SCRIPT]);
    const session = await startTrace({ pid: traced.pid });
    traced.release();
    sibling.release();
    const { events, stats } = await collect(session, Promise.all([traced.exited, sibling.exited]));
    expect(traced.stderr()).toBe('');
    expect(await traced.exited).toBe(0);
    expect(stats.drops).toBe(0);
    expect(stats.events).toBe(events.length);

    expect(events.filter((e) => e.tgid === sibling.pid || e.ppid === sibling.pid)).toEqual([]);
    const tree = new Set([traced.pid, ...events.filter((e) => e.kind === 'fork').map((e) => e.childTgid)]);
    for (const e of events) expect(tree.has(e.tgid)).toBe(true);

    const mine = (e: TraceEvent) => e.tgid === traced.pid;
    const hostname = only(events, (e) => mine(e) && e.kind === 'file_open' && e.path === '/etc/hostname');
    expect(hostname).toHaveLength(1);
    expect(hostname[0]).toMatchObject({ ret: expect.any(Number) as number, flags: expect.any(Number) as number, ppid: process.pid, comm: 'python3' });
    expect(hostname[0]!.ret).toBeGreaterThanOrEqual(0);

    const missing = only(events, (e) => mine(e) && e.kind === 'file_open' && e.path === '/nonexistent/lt-missing');
    expect(missing).toHaveLength(1);
    expect(missing[0]).toMatchObject({ ret: -2, pathUnresolved: true });

    const bz2 = only(events, (e) => mine(e) && e.kind === 'mmap_exec' && /libbz2\.so/.test(e.path ?? ''));
    expect(bz2).toHaveLength(1);
    expect(bz2[0]!.path).toMatch(/^\/usr\/lib\/x86_64-linux-gnu\/libbz2\.so\.1\.0/);
    expect(bz2[0]!.inode).toBeGreaterThan(0);
    expect((bz2[0]!.flags ?? 0) & 4).toBe(4);

    const connects = only(events, (e) => mine(e) && e.kind === 'connect');
    expect(connects).toHaveLength(1);
    expect(connects[0]).toMatchObject({ family: 'inet', addr: '127.0.0.1', port: 9, ret: -111 });

    const shell = only(events, (e) => e.kind === 'exec' && e.path === '/usr/bin/dash');
    expect(shell).toHaveLength(1);
    expect(shell[0]).toMatchObject({ ppid: traced.pid, argv: ['/bin/sh', '-c', '/bin/true; exit 0'] });
    const tru = only(events, (e) => e.kind === 'exec' && e.path === '/usr/bin/true');
    expect(tru).toHaveLength(1);
    expect(tru[0]!.ppid).toBe(shell[0]!.tgid);
    expect(tru[0]!.argv).toEqual(['/bin/true']);

    const sends = only(events, (e) => mine(e) && e.kind === 'sendfile');
    expect(sends.map((e) => [e.op, e.path, e.bytes])).toEqual([
      ['sendfile', '/etc/hostname', 5],
      ['splice', '/etc/hostname', 3],
    ]);

    const memfd = only(events, (e) => mine(e) && e.kind === 'memfd_create');
    expect(memfd).toHaveLength(1);
    expect(memfd[0]!.path).toBe('lt-true');
    const memExec = only(events, (e) => e.kind === 'exec' && (e.path ?? '').startsWith('/memfd:lt-true'));
    expect(memExec).toHaveLength(1);
    expect(memExec[0]!.ppid).toBe(traced.pid);

    // every process of the tree that started also ended, once
    const exits = only(events, (e) => e.kind === 'exit');
    expect(new Set(exits.map((e) => e.tgid))).toEqual(tree);
    expect(exits.find((e) => e.tgid === traced.pid)!.exitCode).toBe(0);
  });
});
