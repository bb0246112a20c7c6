import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTrace } from '../../src/trace/index.js';
import { collect, GATE, PYTHON, spawnGated } from './helpers.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lt-trace-mprot-'));
  await writeFile(join(work, 'blob.bin'), Buffer.alloc(8192, 0xc3));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('executable mappings made by mprotect', () => {
  it('reports a file mapping turned executable, resolved to its file, and ignores anonymous memory', async () => {
    const blob = join(work, 'blob.bin');
    // map a data file read-only, then add PROT_EXEC: the pattern of a loader that maps first and
    // flips protections later; then the same on anonymous memory (a JIT), which has no file
    const script = `import ctypes, os
${GATE}libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
fd = os.open('${blob}', os.O_RDONLY)
a = libc.mmap(None, 4096, 1, 2, fd, 0)
assert libc.mprotect(a, 4096, 1 | 4) == 0
b = libc.mmap(None, 4096, 3, 0x22, -1, 0)
assert libc.mprotect(b, 4096, 1 | 4) == 0
`;
    const g = spawnGated(PYTHON, ['-c', script]);
    const session = await startTrace({ pid: g.pid }, { kinds: ['mmap_exec'] });
    g.release();
    const { events } = await collect(session, g.exited);
    expect(g.stderr()).toBe('');
    expect(await g.exited).toBe(0);
    const mine = events.filter((e) => e.kind === 'mmap_exec');
    expect(mine.map((e) => [e.path, e.op, e.flags])).toEqual([[blob, 'mprotect', 5]]);
  });
});
