import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { startTrace } from '../../src/trace/index.js';
import { ADDON_PATH, addonError } from '../../src/trace/addon.js';
import { LtrackError } from '../../src/core/errors.js';
import { cgroupLayout } from '../../src/core/cgroup-layout.js';
import { collect, GATE, loadedProgIds, ownedProgIds, PYTHON, spawnGated } from './helpers.js';

/** Waits (bounded) until none of `ids` is still loaded: the kernel frees a program after its
 * last reference goes, asynchronously. Returns those still loaded. */
async function stillLoaded(ids: Set<number>): Promise<number[]> {
  let left: number[] = [];
  for (let i = 0; i < 100; i++) {
    const loaded = await loadedProgIds();
    left = [...ids].filter((id) => loaded.has(id));
    if (left.length === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return left;
}

/** The addon is told where the cgroup v2 tree is (src/trace/session.ts passes the detected layout). */
const CGROUP_ROOT = JSON.stringify((await cgroupLayout()).v2Root ?? '');

describe('tracer lifecycle', () => {
  it('stop() detaches and frees every program', async () => {
    const before = await ownedProgIds('self');
    const session = await startTrace({ pid: process.pid }, { kinds: ['exec'] });
    const ours = new Set([...(await ownedProgIds('self'))].filter((id) => !before.has(id)));
    expect(ours.size).toBeGreaterThanOrEqual(3);
    await session.stop();
    expect(await stillLoaded(ours)).toEqual([]);
  });

  it('a crashed (SIGKILLed) host process leaks no program', async () => {
    const child = spawn(process.execPath, [
      '-e',
      `const a = require(${JSON.stringify(ADDON_PATH)}); a.open({ ringBytes: 1 << 20, kindMask: 0xffff, wakeupBytes: 1 << 16, cgroupHooks: 1, cgroupRoot: ${CGROUP_ROOT} }); console.log('ready'); setInterval(() => {}, 1000);`,
    ]);
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
      child.on('exit', (code) => reject(new Error(`child exited ${code}`)));
    });
    const ours = await ownedProgIds(child.pid!);
    expect(ours.size).toBeGreaterThan(10);
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    expect(await stillLoaded(ours)).toEqual([]);
  });

  it('a host process that exits without stop() leaks no program', async () => {
    const child = spawn(process.execPath, [
      '-e',
      `const a = require(${JSON.stringify(ADDON_PATH)}); a.open({ ringBytes: 1 << 20, kindMask: 0xffff, wakeupBytes: 1 << 16, cgroupHooks: 1, cgroupRoot: ${CGROUP_ROOT} }); console.log('ready'); process.stdin.once('data', () => process.exit(0));`,
    ]);
    await new Promise<void>((resolve) => child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve()));
    const ours = await ownedProgIds(child.pid!);
    expect(ours.size).toBeGreaterThan(10);
    child.stdin.end('bye\n');
    await new Promise((r) => child.on('exit', r));
    expect(await stillLoaded(ours)).toEqual([]);
  });

  it('a tiny ring buffer produces drops that are counted by kind and CPU, never hidden', async () => {
    const n = 20000;
    const g = spawnGated(PYTHON, ['-c', `${GATE}import os\nfor i in range(${n}): os.close(os.open('/etc/hostname', os.O_RDONLY))\n`]);
    const session = await startTrace({ pid: g.pid }, { kinds: ['file_open'], ringBytes: 4096, aggregateMs: 0 });
    g.release();
    const { events, stats } = await collect(session, g.exited);
    expect(await g.exited).toBe(0);
    const opens = events.filter((e) => e.kind === 'file_open');
    expect(opens.every((e) => e.path === '/etc/hostname')).toBe(true);
    expect(stats.drops).toBeGreaterThan(0);
    expect(stats.dropsByKind.file_open).toBe(stats.drops);
    expect(stats.dropsByCpu.reduce((a, b) => a + b, 0)).toBe(stats.drops);
    // every open is accounted for: delivered or counted as dropped
    expect(opens.every((e) => e.count === 1)).toBe(true);
    expect(opens.length + stats.drops).toBe(n);
  });

  it('folds repeated identical opens into counted events, losing none (exit and stop both flush)', async () => {
    const script = `${GATE}import os, sys
for i in range(1000): os.close(os.open('/etc/hostname', os.O_RDONLY))
for i in range(300): os.close(os.open('/etc/hosts', os.O_RDONLY))
sys.stdout.write('looped\\n'); sys.stdout.flush()
sys.stdin.readline()
`;
    const g = spawnGated(PYTHON, ['-c', script]);
    // stdin stays open after the release line so the process is still alive at stop()
    const session = await startTrace({ pid: g.pid }, { kinds: ['file_open'] });
    g.child.stdin?.write('go\n');
    const looped = new Promise<void>((resolve) => g.child.stdout?.on('data', (d: Buffer) => d.toString().includes('looped') && resolve()));
    const { events, stats } = await collect(session, looped);
    g.release();
    expect(await g.exited).toBe(0);
    const sum = (p: string) => events.filter((e) => e.path === p).reduce((a, e) => a + e.count, 0);
    expect(sum('/etc/hostname')).toBe(1000);
    expect(sum('/etc/hosts')).toBe(300);
    expect(events.filter((e) => e.path === '/etc/hostname').length).toBeLessThan(20);
    expect(stats.drops).toBe(0);

    // and when the process exits while traced, its pending repeats come with the exit
    const g2 = spawnGated(PYTHON, ['-c', `${GATE}import os\nfor i in range(700): os.close(os.open('/etc/hostname', os.O_RDONLY))\n`]);
    const s2 = await startTrace({ pid: g2.pid }, { kinds: ['file_open', 'exit'] });
    g2.release();
    const r2 = await collect(s2, g2.exited);
    const opens2 = r2.events.filter((e) => e.path === '/etc/hostname');
    expect(opens2.reduce((a, e) => a + e.count, 0)).toBe(700);
    const exitAt = r2.events.findIndex((e) => e.kind === 'exit');
    expect(r2.events.findIndex((e) => e.path === '/etc/hostname' && e.count > 1)).toBeLessThan(exitAt);
  });

  it("without privileges the addon refuses with tracer_unavailable, naming the failed step and giving libbpf's log", async () => {
    const child = spawn(
      process.execPath,
      [
        '-e',
        `try { require(${JSON.stringify(ADDON_PATH)}).open({ ringBytes: 1 << 16, kindMask: 0xffff, wakeupBytes: 1 << 14, cgroupHooks: 0 }); console.log('loaded'); } catch (e) { console.log(JSON.stringify({ code: e.ltrackCode, message: e.message, libbpfLog: e.libbpfLog })); }`,
      ],
      { uid: 65534, gid: 65534 },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise((r) => child.on('close', r));
    const r = JSON.parse(out) as { code: string; message: string; libbpfLog: string };
    expect(r.code).toBe('tracer_unavailable');
    expect(r.message).toBe('load BPF programs: Operation not permitted');
    // libbpf's own account of the refused load, not a guess
    expect(r.libbpfLog).toMatch(/failed to load object 'ltrack_bpf'/);
    const err = addonError(Object.assign(new Error(r.message), { ltrackCode: r.code, libbpfLog: r.libbpfLog }), 'start');
    expect(err).toMatchObject({ code: 'tracer_unavailable' });
    expect(err.message).toMatch(/^start: load BPF programs: Operation not permitted; libbpf: .*failed to load object 'ltrack_bpf'/);
    expect(err.message).not.toContain('\n');
  });

  it('rejects a ring size that is not a power of two with a usage error', async () => {
    await expect(startTrace({ pid: process.pid }, { ringBytes: 5000 })).rejects.toMatchObject({ code: 'usage' });
    await expect(startTrace({ pid: process.pid }, { ringBytes: 5000 })).rejects.toBeInstanceOf(LtrackError);
  });

  it('refuses enforce mode without an allow list', async () => {
    await expect(startTrace({ pid: process.pid }, { mode: 'enforce' })).rejects.toMatchObject({ code: 'usage' });
  });
});
