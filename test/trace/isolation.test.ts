import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TraceEvent } from '../../src/core/event.js';
import { startTrace } from '../../src/trace/index.js';
import { cgroupLayout, processCgroupDirs } from '../../src/core/cgroup-layout.js';
import { collect } from './helpers.js';

const run = promisify(execFile);
const IMAGE = 'ltrack-trace-test:latest';
let work: string;

// A two-binary rootfs (the fixture and /bin/true, both static) imported as a Docker image: no
// registry needed, and nothing in it can do harm.
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lt-trace-iso-'));
  const rootfs = join(work, 'rootfs');
  await mkdir(join(rootfs, 'bin'), { recursive: true });
  await mkdir(join(rootfs, 'candidate'));
  const here = new URL('./fixtures/', import.meta.url).pathname;
  await run('cc', ['-static', '-O2', '-o', join(rootfs, 'ctr'), join(here, 'ctr.c')]);
  await run('cc', ['-static', '-O2', '-o', join(rootfs, 'bin', 'true'), join(here, 'true.c')]);
  await run('sh', ['-c', `tar -C '${rootfs}' -c . | docker import - ${IMAGE}`]);
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
  // Each run imports the image anew; removing it keeps runs from piling up dangling images.
  await run('docker', ['rmi', '-f', IMAGE]).catch(() => undefined);
});

async function candidateDir(name: string): Promise<string> {
  const dir = join(work, name);
  await mkdir(dir);
  await writeFile(join(dir, 'model.pt'), 'not really a model');
  return dir;
}

function check(events: TraceEvent[], root: number | undefined) {
  const opens = events.filter((e) => e.kind === 'file_open' && e.path === '/candidate/model.pt');
  expect(opens).toHaveLength(1);
  expect(opens[0]!.ret).toBeGreaterThanOrEqual(0);
  const connects = events.filter((e) => e.kind === 'connect');
  expect(connects).toHaveLength(1);
  expect(connects[0]).toMatchObject({ addr: '127.0.0.1', port: 9 });
  const execs = events.filter((e) => e.kind === 'exec' && e.path === '/bin/true');
  expect(execs).toHaveLength(1);
  expect(execs[0]!.ppid).toBe(opens[0]!.tgid);
  if (root !== undefined) for (const e of events) expect(e.cgroup).toBe(root);
  // no host-side path leaks into the sandbox view
  for (const e of events) if (e.path) expect(e.path).not.toMatch(/overlay|lt-trace-iso/);
}

describe('tracer inside sandboxes', () => {
  it('follows a Docker container by its cgroup id with container paths', async () => {
    const dir = await candidateDir('docker');
    const name = `lt-trace-${process.pid}`;
    await run('docker', ['run', '-d', '--name', name, '--network', 'none', '-v', `${dir}:/candidate`, IMAGE, '/ctr']);
    try {
      // the container's v2 folder, as the kernel lists it for the container's first process
      const { stdout } = await run('docker', ['inspect', '-f', '{{.State.Pid}}', name]);
      const v2 = processCgroupDirs(await readFile(`/proc/${stdout.trim()}/cgroup`, 'utf8'), await cgroupLayout()).v2;
      const cgroupId = (await stat(v2!)).ino;
      const session = await startTrace({ cgroupId });
      await writeFile(join(dir, 'go'), '');
      const exited = run('docker', ['wait', name]).then((r) => r.stdout.trim());
      const { events, stats } = await collect(session, exited);
      expect(await exited).toBe('0');
      expect(stats.drops).toBe(0);
      check(events, cgroupId);
    } finally {
      await run('docker', ['rm', '-f', name]).catch(() => undefined);
    }
  });

  it('follows a bubblewrap sandbox by the pid of bwrap with sandbox paths', async () => {
    const dir = await candidateDir('bwrap');
    const rootfs = join(work, 'rootfs');
    const { spawnGated } = await import('./helpers.js');
    // bwrap starts only once released: a shell waits for the line, then execs bwrap
    const g = spawnGated('/bin/sh', ['-c', `read x; exec bwrap --bind '${rootfs}' / --bind '${dir}' /candidate --proc /proc --dev /dev --unshare-net --die-with-parent /ctr`]);
    const session = await startTrace({ pid: g.pid });
    g.release();
    const go = (async () => {
      await new Promise((r) => setTimeout(r, 200));
      await writeFile(join(dir, 'go'), '');
    })();
    const { events, stats } = await collect(session, Promise.all([g.exited, go]));
    expect(await g.exited).toBe(0);
    expect(stats.drops).toBe(0);
    check(events, undefined);
    expect(events.some((e) => e.kind === 'exec' && e.path === '/usr/bin/bwrap')).toBe(true);
  });
});
