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
    const opens = events.filter((e) => e.kind === 'file_open' && (e.path === secret || e.path === link));
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
for _ in range(400):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if libc.connect(s.fileno(), addr, 16) == 0:
        peers.append(s.getpeername()[0])
    s.close()
done = True; t.join()
print(' '.join(peers))
`);
    const peers = stdout.trim().split(' ');
    expect(peers.length).toBe(400);
    // the flipper really ran during the calls: the kernel took both addresses
    expect(new Set(peers)).toEqual(new Set(['127.0.0.1', '127.0.0.2']));
    const connects = events.filter((e) => e.tgid === pid && e.pid === pid && e.kind === 'connect' && e.family === 'inet' && e.port === 9);
    expect(connects.map((e) => e.addr)).toEqual(peers);
  });
});
