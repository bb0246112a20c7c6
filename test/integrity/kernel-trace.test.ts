import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TraceEvent } from '../../src/core/event.js';
import { kernelDev } from '../../src/sandbox/decoys.js';
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

  it('a connect reports the peer the kernel used, even while another thread rewrites the sockaddr', async () => {
    // The main thread connects UDP sockets through libc with one sockaddr buffer while a second
    // thread flips its address between 127.0.0.1 and 127.0.0.2 (ctypes drops the GIL in the call).
    // getpeername tells which address the kernel took; the traced events must say the same, in order.
    const { events, stdout, pid } = await traced(`
import ctypes, socket, struct, threading
libc = ctypes.CDLL(None, use_errno=True)
addr = ctypes.create_string_buffer(struct.pack('<H', socket.AF_INET) + struct.pack('>H', 9) + socket.inet_aton('127.0.0.1') + bytes(8), 16)
ips = [socket.inet_aton('127.0.0.1'), socket.inet_aton('127.0.0.2')]
done = False
def flip():
    i = 0
    while not done:
        ctypes.memmove(ctypes.addressof(addr) + 4, ips[i & 1], 4)
        i += 1
t = threading.Thread(target=flip); t.start()
peers = []
# until the kernel has taken both addresses (a busy machine may switch threads rarely), bounded
while len(peers) < 20000 and not (len(peers) >= 400 and len(set(peers)) == 2):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if libc.connect(s.fileno(), addr, 16) == 0:
        peers.append(s.getpeername()[0])
    s.close()
done = True; t.join()
print(' '.join(peers))
`);
    const peers = stdout.trim().split(' ');
    expect(peers.length).toBeGreaterThanOrEqual(400);
    // the flipper really ran during the calls: the kernel took both addresses
    expect(new Set(peers)).toEqual(new Set(['127.0.0.1', '127.0.0.2']));
    const connects = events.filter((e) => e.tgid === pid && e.pid === pid && e.kind === 'connect' && e.family === 'inet' && e.port === 9);
    expect(connects.map((e) => e.addr)).toEqual(peers);
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

