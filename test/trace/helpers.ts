import { spawn, type ChildProcess } from 'node:child_process';
import type { TraceEvent } from '../../src/core/event.js';
import type { TraceSession, TraceStats } from '../../src/trace/index.js';

/** /usr/bin/python3 has the loaders; the python3 first on PATH does not. */
export const PYTHON = '/usr/bin/python3';

/** A child that waits for a line on stdin before doing anything: trace it, then release it. */
export interface Gated {
  child: ChildProcess;
  pid: number;
  release(): void;
  exited: Promise<number | null>;
  stdout: () => string;
  stderr: () => string;
}

export function spawnGated(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Gated {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code, signal) => resolve(signal ? -1 : code)));
  if (child.pid === undefined) throw new Error(`spawn ${cmd} failed`);
  return {
    child,
    pid: child.pid,
    release: () => child.stdin.end('go\n'),
    exited,
    stdout: () => out,
    stderr: () => err,
  };
}

/** The prologue of every traced Python script: wait for the release line. */
export const GATE = 'import sys\nsys.stdin.readline()\n';

/** Consumes a session until `until` settles, then stops it; returns plain events and the stats. */
export async function collect(session: TraceSession, until: Promise<unknown>): Promise<{ events: TraceEvent[]; stats: TraceStats }> {
  const events: TraceEvent[] = [];
  const reading = (async () => {
    for await (const batch of session) for (const e of batch) events.push(JSON.parse(JSON.stringify(e)) as TraceEvent);
  })();
  await until;
  const stats = await session.stop();
  await reading;
  return { events, stats };
}

/** Ids of the BPF programs a process holds open (from /proc/PID/fdinfo): precise even while
 * other tests load their own tracers in parallel. */
export async function ownedProgIds(pid: number | 'self'): Promise<Set<number>> {
  const { readdir, readFile } = await import('node:fs/promises');
  const ids = new Set<number>();
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const info = await readFile(`/proc/${pid}/fdinfo/${fd}`, 'utf8').catch(() => '');
    const m = /^prog_id:\s+(\d+)/m.exec(info);
    if (m) ids.add(Number(m[1]));
  }
  return ids;
}

/** Ids of every BPF program loaded in the kernel right now (bpftool prog). */
export async function loadedProgIds(): Promise<Set<number>> {
  const { execFile } = await import('node:child_process');
  const out = await new Promise<string>((resolve, reject) =>
    execFile('bpftool', ['-j', 'prog', 'show'], { maxBuffer: 64 << 20 }, (e, so) => (e ? reject(new Error('bpftool prog show failed', { cause: e })) : resolve(so))),
  );
  return new Set((JSON.parse(out) as { id: number }[]).map((p) => p.id));
}
