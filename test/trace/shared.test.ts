import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, rmdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SharedTrace } from '../../src/trace/index.js';

/**
 * The shared tracer's attribution rules (src/trace/shared.ts) on the real kernel: events by the
 * kernel's cgroup of the process, and what cannot be attributed (drops, events of no leased
 * cgroup) counted against every lease open at the time. Host processes held on stdin stand in
 * for sandboxes: each sits in a fresh cgroup v2 folder as a sandbox does.
 */
const V2 = '/sys/fs/cgroup/unified';
const made: string[] = [];
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  await new Promise((r) => setTimeout(r, 200));
  for (const d of made.splice(0)) await rmdir(d).catch(() => undefined);
});

/** A shell held until released, moved into a cgroup of its own; `script` runs once released. */
async function heldProcess(script: string): Promise<{ pid: number; cgroupId: number; go: () => void; release: () => Promise<void> }> {
  const dir = join(V2, `ltrack-test-shared-${process.pid}-${made.length}`);
  await mkdir(dir);
  made.push(dir);
  const child = spawn('sh', ['-c', `read go; ${script}`], { stdio: ['pipe', 'ignore', 'ignore'] });
  children.push(child);
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  await writeFile(join(dir, 'cgroup.procs'), String(child.pid));
  return {
    pid: child.pid!,
    cgroupId: (await stat(dir)).ino,
    go: () => {
      if (!child.stdin.writableEnded) child.stdin.end('go\n');
    },
    release: async () => {
      if (!child.stdin.writableEnded) child.stdin.end('go\n');
      await exited;
    },
  };
}

const OPENS = 'for i in 1 2 3 4 5 6 7 8; do cat /etc/hostname /etc/passwd >/dev/null; done';

describe('SharedTrace (one tracer, leases by cgroup)', () => {
  it("gives each lease exactly its own cgroup's events while two run side by side", async () => {
    const trace = await SharedTrace.open();
    try {
      const [a, b] = [await heldProcess(`${OPENS}; /bin/true`), await heldProcess(OPENS)];
      const [la, lb] = [trace.lease(a), trace.lease(b)];
      await Promise.all([a.release(), b.release()]);
      const [sa, sb] = await Promise.all([la.end(), lb.end()]);
      expect(sa.events).toBeGreaterThan(0);
      expect(sb.events).toBeGreaterThan(0);
      expect(la.events.every((e) => e.cgroup === a.cgroupId)).toBe(true);
      expect(lb.events.every((e) => e.cgroup === b.cgroupId)).toBe(true);
      const runsTrue = (e: { kind: string; path?: string }) => e.kind === 'exec' && /\/true$/.test(e.path ?? '');
      expect(la.events.some(runsTrue)).toBe(true);
      expect(lb.events.some(runsTrue)).toBe(false);
      expect([sa.unattributed, sb.unattributed, sa.drops, sb.drops]).toEqual([0, 0, 0, 0]);
    } finally {
      await trace.close();
    }
  });

  it('counts a traced process outside every leased cgroup against every lease open then', async () => {
    const trace = await SharedTrace.open();
    try {
      const [a, stray] = [await heldProcess(OPENS), await heldProcess(OPENS)];
      const la = trace.lease(a);
      // the stray's first process is followed, but the cgroup named for it is not the one it is in
      const ls = trace.lease({ pid: stray.pid, cgroupId: a.cgroupId + 1_000_000 });
      await Promise.all([a.release(), stray.release()]);
      const [sa, ss] = await Promise.all([la.end(), ls.end()]);
      expect(ls.events).toEqual([]);
      expect(ss.unattributed).toBeGreaterThan(0);
      expect(sa.unattributed).toBeGreaterThan(0);
      expect(la.events.every((e) => e.cgroup === a.cgroupId)).toBe(true);
      // a lease taken after the stray's window saw none of it
      const late = await heldProcess('true');
      const ll = trace.lease(late);
      await late.release();
      expect((await ll.end()).unattributed).toBe(0);
    } finally {
      await trace.close();
    }
  });

  it('counts ring-buffer drops against every lease open while they happened', async () => {
    // a 4 KiB ring, and the consumer held (this thread blocked) while two shells run processes
    const trace = await SharedTrace.open({ ringBytes: 4096, aggregateMs: 0 });
    try {
      const busy = 'for i in $(seq 50); do cat /etc/hostname /etc/passwd /etc/group >/dev/null; done';
      const [a, b] = [await heldProcess(busy), await heldProcess(busy)];
      const [la, lb] = [trace.lease(a), trace.lease(b)];
      a.go();
      b.go();
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1500);
      await Promise.all([a.release(), b.release()]);
      const [sa, sb] = await Promise.all([la.end(), lb.end()]);
      expect(sa.drops).toBeGreaterThan(0);
      expect(sb.drops).toBeGreaterThan(0);
    } finally {
      await trace.close();
    }
  });
});
