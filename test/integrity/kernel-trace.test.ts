import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TraceEvent } from '../../src/core/event.js';
import { kernelDev } from '../../src/trace/identity.js';
import { startTrace } from '../../src/trace/index.js';
import { collect, GATE, PYTHON, spawnGated } from '../trace/helpers.js';

/**
 * Item 7 of issue #12 on the real kernel, without a sandbox: the identity an open carries, sends
 * by sendmmsg, and connect peers taken from the kernel's copy while a thread rewrites the user's.
 * Everything stays on loopback (127.0.0.1 and 127.0.0.2, port 9: nobody listens, UDP needs no one).
 */
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ltrack-kernel-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

/** The racing connect (see its test); prints: RACE port ret errno address-in-memory-at-exit. */
const RACE = `
import ctypes, errno, os, signal, socket, struct, threading, time
libc = ctypes.CDLL(None, use_errno=True)
# a listener whose accept queue is full: a connect to it blocks (its SYNs are dropped)
lst = socket.socket(); lst.bind(('127.0.0.1', 0)); lst.listen(0)
port = lst.getsockname()[1]
fillers = []
for _ in range(2):
    f = socket.socket(); f.setblocking(False); f.connect_ex(('127.0.0.1', port)); fillers.append(f)
time.sleep(0.2)
addr = ctypes.create_string_buffer(struct.pack('<H', socket.AF_INET) + struct.pack('>H', port) + socket.inet_aton('127.0.0.1') + bytes(8), 16)
signal.signal(signal.SIGUSR1, lambda *_: None)  # interrupts the connect (EINTR), no restart
main = threading.get_ident()
tid = threading.get_native_id()
def rewrite():
    # once the main thread sits in connect(2) (syscall 42), the kernel has its copy: rewrite ours
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with open(f'/proc/self/task/{tid}/syscall') as f:
            if f.read().split()[0] == '42':
                break
        time.sleep(0.001)
    ctypes.memmove(ctypes.addressof(addr) + 4, socket.inet_aton('127.0.0.2'), 4)
    time.sleep(0.05)
    signal.pthread_kill(main, signal.SIGUSR1)
t = threading.Thread(target=rewrite); t.start()
s = socket.socket()
r = libc.connect(s.fileno(), addr, 16)
e = ctypes.get_errno()
t.join()
# EINTR: the kernel was blocked connecting to 127.0.0.1 (127.0.0.2 has no listener and refuses at once)
print('RACE', port, r, errno.errorcode.get(e, e), socket.inet_ntoa(addr.raw[4:8]), flush=True)
`;

async function traced(script: string): Promise<{ events: TraceEvent[]; stdout: string; pid: number }> {
  const child = spawnGated(PYTHON, ['-c', `${GATE}${script}`]);
  const session = await startTrace({ pid: child.pid }, { aggregateMs: 0 });
  child.release();
  const { events, stats } = await collect(session, child.exited);
  expect(child.stderr()).toBe('');
  expect(await child.exited).toBe(0);
  expect(stats.drops).toBe(0);
  return { events, stdout: child.stdout(), pid: child.pid };
}

describe('tracer integrity on the real kernel', () => {
  it('a file_open carries the inode and device of the file, the same through a hard link as by name', async () => {
    const secret = join(dir, 'secret');
    const link = join(dir, 'elsewhere');
    await writeFile(secret, 'x');
    const s = await stat(secret, { bigint: true });
    const { events } = await traced(`
import os
os.link(${JSON.stringify(secret)}, ${JSON.stringify(link)})
open(${JSON.stringify(secret)}, 'rb').read()
open(${JSON.stringify(link)}, 'rb').read()
`);
    const opens = events.filter((e) => e.kind === 'file_open' && e.op === undefined && (e.path === secret || e.path === link));
    expect(opens.map((e) => e.path).sort()).toEqual([link, secret].sort());
    for (const e of opens) expect({ inode: e.inode, dev: e.dev }).toEqual({ inode: Number(s.ino), dev: kernelDev(s.dev) });
    // a failed open has no file, hence no identity
    const missing = events.find((e) => e.kind === 'file_open' && (e.ret ?? 0) < 0);
    if (missing) expect(missing.inode).toBeUndefined();
  });

  it('sendmmsg is traced: one event per message, each with its own peer', async () => {
    const { events, stdout, pid } = await traced(`
import ctypes, socket, struct
libc = ctypes.CDLL(None, use_errno=True)
class iovec(ctypes.Structure): _fields_ = [('base', ctypes.c_void_p), ('len', ctypes.c_size_t)]
class msghdr(ctypes.Structure): _fields_ = [('name', ctypes.c_void_p), ('namelen', ctypes.c_uint32), ('iov', ctypes.c_void_p), ('iovlen', ctypes.c_size_t), ('control', ctypes.c_void_p), ('controllen', ctypes.c_size_t), ('flags', ctypes.c_int)]
class mmsghdr(ctypes.Structure): _fields_ = [('hdr', msghdr), ('len', ctypes.c_uint)]
def sin(ip, port): return ctypes.create_string_buffer(struct.pack('<H', socket.AF_INET) + struct.pack('>H', port) + socket.inet_aton(ip) + bytes(8), 16)
names = [sin('127.0.0.1', 9), sin('127.0.0.2', 9)]
payload = ctypes.create_string_buffer(b'ltrack-mmsg', 11)
iov = iovec(ctypes.cast(payload, ctypes.c_void_p), 11)
vec = (mmsghdr * 2)()
for i, n in enumerate(names):
    vec[i].hdr = msghdr(ctypes.cast(n, ctypes.c_void_p), 16, ctypes.cast(ctypes.pointer(iov), ctypes.c_void_p), 1, None, 0, 0)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
print('sent', libc.sendmmsg(s.fileno(), vec, 2, 0))
`);
    expect(stdout).toContain('sent 2');
    const sends = events.filter((e) => e.tgid === pid && e.kind === 'sendmsg' && e.family === 'inet');
    expect(sends.map((e) => `${e.addr}:${e.port}`).sort()).toEqual(['127.0.0.1:9', '127.0.0.2:9']);
  });

  it('a connect reports the peer the kernel used, though another thread rewrote the sockaddr during the call', async () => {
    // The main thread connects to a listener whose accept queue is full, so the call blocks; once
    // /proc says it sits in connect(2), a second thread rewrites the address to 127.0.0.2 (where
    // nobody listens: a connect there would be refused at once) and interrupts the call. EINTR
    // proves the kernel was connecting to 127.0.0.1 while user memory said 127.0.0.2 at exit.
    const { events, stdout, pid } = await traced(RACE);
    const [, port, ret, err, memory] = stdout.trim().split(' ');
    expect([ret, err, memory]).toEqual(['-1', 'EINTR', '127.0.0.2']);
    // the two non-blocking fillers come first (EINPROGRESS), then the interrupted call, whose
    // sys_exit sees the kernel's -ERESTARTSYS (-512; user space gets EINTR)
    const connects = events.filter((e) => e.pid === pid && e.kind === 'connect' && e.port === Number(port));
    expect(connects.map((e) => [e.addr, e.ret])).toEqual([
      ['127.0.0.1', -115],
      ['127.0.0.1', -115],
      ['127.0.0.1', -512],
    ]);
  });

  it('a connect made by io_uring, with no connect syscall at all, is reported with its peer by the cgroup hook', async () => {
    const { events, stdout, pid } = await traced(`
import ctypes, mmap, socket, struct
libc = ctypes.CDLL(None, use_errno=True)
u32 = ctypes.c_uint32
class SqOff(ctypes.Structure): _fields_ = [(n, u32) for n in ('head', 'tail', 'mask', 'entries', 'flags', 'dropped', 'array', 'resv1')] + [('user_addr', ctypes.c_uint64)]
class CqOff(ctypes.Structure): _fields_ = [(n, u32) for n in ('head', 'tail', 'mask', 'entries', 'overflow', 'cqes', 'flags', 'resv1')] + [('user_addr', ctypes.c_uint64)]
class Params(ctypes.Structure): _fields_ = [(n, u32) for n in ('sq_entries', 'cq_entries', 'flags', 'sq_thread_cpu', 'sq_thread_idle', 'features', 'wq_fd')] + [('resv', u32 * 3), ('sq_off', SqOff), ('cq_off', CqOff)]
p = Params()
ring = libc.syscall(425, 4, ctypes.byref(p))  # io_uring_setup
assert ring >= 0, ctypes.get_errno()
sq = mmap.mmap(ring, p.sq_off.array + p.sq_entries * 4, offset=0)
sqes = mmap.mmap(ring, p.sq_entries * 64, offset=0x10000000)
cq = mmap.mmap(ring, p.cq_off.cqes + p.cq_entries * 16, offset=0x8000000)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
addr = ctypes.create_string_buffer(struct.pack('<H', socket.AF_INET) + struct.pack('>H', 9) + socket.inet_aton('127.0.0.3') + bytes(8), 16)
# IORING_OP_CONNECT (16): fd, addr, addrlen in off
sqes[0:64] = struct.pack('<BBHiQQIIQ', 16, 0, 0, s.fileno(), 16, ctypes.addressof(addr), 0, 0, 7) + bytes(24)
struct.pack_into('<I', sq, p.sq_off.array, 0)
struct.pack_into('<I', sq, p.sq_off.tail, struct.unpack_from('<I', sq, p.sq_off.tail)[0] + 1)
print('submitted', libc.syscall(426, ring, 1, 1, 1, None, 0))  # io_uring_enter, GETEVENTS
head = struct.unpack_from('<I', cq, p.cq_off.head)[0] & p.cq_off.mask
print('res', struct.unpack_from('<Qi', cq, p.cq_off.cqes + head * 16)[1], s.getpeername()[0])
`);
    expect(stdout).toContain('submitted 1');
    expect(stdout).toContain('res 0 127.0.0.3');
    expect(events.some((e) => e.tgid === pid && e.kind === 'io_uring')).toBe(true);
    const connects = events.filter((e) => e.tgid === pid && e.kind === 'connect' && e.family === 'inet');
    expect(connects.map((e) => `${e.addr}:${e.port}`)).toEqual(['127.0.0.3:9']);
  });

  it('a name made by rename, link or symlink is reported as a write of that name, relative names joined to their directory', async () => {
    const { events } = await traced(`
import os
d = ${JSON.stringify(dir)}
open(os.path.join(d, 'staged'), 'w').write('x')
os.rename(os.path.join(d, 'staged'), os.path.join(d, 'authorized_keys'))
fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
os.link('authorized_keys', 'hard.pth', src_dir_fd=fd, dst_dir_fd=fd)
os.chdir(d)
os.symlink('authorized_keys', 'sym.pth')
os.replace('sym.pth', 'moved.pth')
try: os.rename('absent', 'never.pth')
except FileNotFoundError: pass
`);
    const made = events.filter((e) => e.kind === 'file_open' && e.op !== undefined);
    expect(made.map((e) => [e.op, e.path, e.flags, e.ret, e.pathUnresolved])).toEqual([
      ['rename', join(dir, 'authorized_keys'), 0o101, 0, true],
      ['link', join(dir, 'hard.pth'), 0o101, 0, true],
      ['link', join(dir, 'sym.pth'), 0o101, 0, true],
      ['rename', join(dir, 'moved.pth'), 0o101, 0, true],
    ]);
  });
});
