import { mkdir, readFile, rmdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { wrapError } from '../core/errors.js';
import type { SandboxLimits } from './limits.js';

const V1 = '/sys/fs/cgroup';
const V2 = '/sys/fs/cgroup/unified';
const CFS_PERIOD_US = 100_000;
const CONTROLLERS = ['pids', 'memory', 'cpu'] as const;

/**
 * The bubblewrap driver's limits and identity: cgroup v1 pids, memory and cpu folders (this kind of
 * machine runs cgroup v1 controllers; prlimit NPROC does nothing for root) and a cgroup v2 folder
 * whose inode is the cgroup id the tracer and the socket hooks follow.
 */
export class RunCgroup {
  private constructor(
    private readonly name: string,
    readonly cgroupId: number | undefined,
  ) {}

  static async create(name: string, limits: SandboxLimits): Promise<RunCgroup> {
    try {
      await mkdir(join(V1, 'pids', name));
      await writeFile(join(V1, 'pids', name, 'pids.max'), String(limits.pids));
      await mkdir(join(V1, 'memory', name));
      await writeFile(join(V1, 'memory', name, 'memory.limit_in_bytes'), String(limits.memoryBytes));
      await writeFile(join(V1, 'memory', name, 'memory.memsw.limit_in_bytes'), String(limits.memoryBytes)).catch(() => undefined); // no swap accounting here
      // CPU: a CFS quota of `cpus` periods per period, as docker's NanoCpus sets it
      await mkdir(join(V1, 'cpu', name));
      await writeFile(join(V1, 'cpu', name, 'cpu.cfs_period_us'), String(CFS_PERIOD_US));
      await writeFile(join(V1, 'cpu', name, 'cpu.cfs_quota_us'), String(Math.max(1000, Math.round(limits.cpus * CFS_PERIOD_US))));
      const v2 = join(V2, name);
      const cgroupId = await mkdir(v2).then(
        async () => (await stat(v2)).ino,
        () => undefined,
      );
      return new RunCgroup(name, cgroupId);
    } catch (err) {
      throw wrapError(err, 'sandbox_failed', `cannot create the sandbox cgroup ${name} (need root and cgroup v1 pids/memory/cpu)`);
    }
  }

  /** Moves a process (and so everything it starts) into every folder. */
  async add(pid: number): Promise<void> {
    for (const c of CONTROLLERS) await writeFile(join(V1, c, this.name, 'cgroup.procs'), String(pid));
    if (this.cgroupId !== undefined) await writeFile(join(V2, this.name, 'cgroup.procs'), String(pid));
  }

  async pids(): Promise<number[]> {
    const text = await readFile(join(V1, 'pids', this.name, 'cgroup.procs'), 'utf8').catch(() => '');
    return text.split('\n').filter(Boolean).map(Number);
  }

  async killAll(): Promise<void> {
    for (const pid of await this.pids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  /** How often this run's pids limit refused a fork or a thread (pids.events `max`), read by the host. */
  async pidsLimitHits(): Promise<number | undefined> {
    return readPidsLimitHits(join(V1, 'pids', this.name));
  }

  /** Whether the memory controller OOM-killed something in this run. */
  async oomKilled(): Promise<boolean> {
    const text = await readFile(join(V1, 'memory', this.name, 'memory.oom_control'), 'utf8').catch(() => '');
    return /oom_kill\s+[1-9]/.test(text);
  }

  async remove(): Promise<void> {
    await this.killAll();
    for (let i = 0; i < 50 && (await this.pids()).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
    for (const dir of [...CONTROLLERS.map((c) => join(V1, c, this.name)), join(V2, this.name)]) await rmdir(dir).catch(() => undefined);
  }
}

/**
 * The pids controller's count of forks and clones it refused at pids.max (cgroup v1 and v2 both
 * write `max N` to pids.events). The kernel keeps it; nothing inside the sandbox can write it, unlike
 * the error text a payload may print or swallow. Undefined when the file cannot be read.
 */
export async function readPidsLimitHits(cgroupDir: string): Promise<number | undefined> {
  const text = await readFile(join(cgroupDir, 'pids.events'), 'utf8').catch(() => undefined);
  const m = text === undefined ? null : /^max\s+(\d+)/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** Where dockerd (cgroupfs driver, cgroup v1, as on this kind of machine) puts a container's pids cgroup. */
export const dockerPidsCgroup = (containerId: string): string => join(V1, 'pids', 'docker', containerId);

/**
 * Watches a pids cgroup that disappears with its processes (runc removes a container's cgroup as
 * soon as its PID 1 exits, before the host could read it after the run): reads the `max` counter
 * every `everyMs` while the run goes on and keeps the highest value read. The counter only grows,
 * so any read after a refused fork sees it; the harness lingers at its end and stays alive long
 * after any fork bomb it survived. Undefined when the counter was never readable.
 */
export function watchPidsLimitHits(cgroupDir: string, everyMs = 100): { stop(): Promise<number | undefined> } {
  let best: number | undefined;
  let reading: Promise<void> = Promise.resolve();
  const read = () => {
    reading = reading.then(async () => {
      const n = await readPidsLimitHits(cgroupDir);
      if (n !== undefined) best = Math.max(best ?? 0, n);
    });
  };
  read();
  const timer = setInterval(read, everyMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      read(); // a last look, in case the cgroup is still there
      await reading;
      return best;
    },
  };
}
