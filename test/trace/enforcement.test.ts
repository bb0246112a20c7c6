import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KernelAllowlist } from '../../src/core/kernel-filter.js';
import { startTrace } from '../../src/trace/index.js';
import { collect, PYTHON, spawnGated } from './helpers.js';

const run = promisify(execFile);
let work: string;
let evil: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lt-trace-enf-'));
  evil = join(work, 'evil.so');
  const src = new URL('./fixtures/evil.c', import.meta.url).pathname;
  await run('cc', ['-shared', '-fPIC', '-O2', `-DCANARY="${join(work, 'canary-ctor')}"`, '-o', evil, src]);
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

// ctypes and socket are imported before tracing starts, so what runs traced maps nothing new
// except the library under test.
const script = (canaryExec: string, so: string) => `
import ctypes, socket, subprocess, sys
sys.stdin.readline()
print(subprocess.run(['/usr/bin/true']).returncode)
print(subprocess.run(['/usr/bin/touch', '${canaryExec}']).returncode)
print(socket.socket().connect_ex(('127.0.0.1', 9)))
print(socket.socket().connect_ex(('127.0.0.1', 7)))
sys.stdout.flush()
ctypes.CDLL('${so}')
print('survived')
`;

describe('enforcement hooks', () => {
  it('kills a disallowed exec and an executable mmap before their code runs, denies a connect with EPERM', async () => {
    const canaryExec = join(work, 'canary-exec');
    const allow: KernelAllowlist = {
      execPaths: ['/usr/bin/true'],
      // /usr/bin/true maps libc; nothing else is allowed
      libraryPaths: ['/usr/lib/x86_64-linux-gnu/libc.so.6'],
      libraryInodes: [],
      connect: [{ addr: '127.0.0.1', port: 7 }],
    };
    const g = spawnGated(PYTHON, ['-c', script(canaryExec, evil)]);
    const session = await startTrace({ pid: g.pid }, { mode: 'enforce', allowlist: allow });
    g.release();
    const { events, stats } = await collect(session, g.exited);

    expect(await g.exited).toBe(-1); // SIGKILL at the mmap of evil.so
    // allowed exec ran; the denied one was killed (-9) before touch created anything
    expect(g.stdout().split('\n')).toEqual(['0', '-9', '1', '111', '']);
    expect(existsSync(canaryExec)).toBe(false);
    expect(existsSync(join(work, 'canary-ctor'))).toBe(false);

    const execs = events.filter((e) => e.kind === 'exec');
    expect(execs.map((e) => [e.path, e.enforced])).toEqual([
      ['/usr/bin/true', undefined],
      ['/usr/bin/touch', 'killed'],
    ]);
    const maps = events.filter((e) => e.kind === 'mmap_exec' && e.path === evil);
    expect(maps).toHaveLength(1);
    expect(maps[0]!.enforced).toBe('killed');
    const connects = events.filter((e) => e.kind === 'connect');
    expect(connects.map((e) => [e.port, e.ret, e.enforced])).toEqual([
      [9, -1, 'denied'],
      [7, -111, undefined],
    ]);
    expect(stats.drops).toBe(0);
    expect(stats.tiers).toContain('enforce:kill(exec,mmap)+deny(connect,sendmsg)');
  });

  it('observe mode (the default) kills and denies nothing', async () => {
    const canaryExec = join(work, 'canary-exec-observe');
    const g = spawnGated(PYTHON, ['-c', script(canaryExec, '/usr/lib/x86_64-linux-gnu/libbz2.so.1.0')]);
    const session = await startTrace({ pid: g.pid });
    g.release();
    const { events } = await collect(session, g.exited);
    expect(await g.exited).toBe(0);
    expect(g.stdout().split('\n')).toEqual(['0', '0', '111', '111', 'survived', '']);
    expect(existsSync(canaryExec)).toBe(true);
    expect(events.filter((e) => e.enforced !== undefined)).toEqual([]);
  });
});
