import { mkdir, readFile, readdir, rmdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { LtrackError, wrapError } from '../core/errors.js';
import type { CgroupLayout, V1Controller } from '../core/cgroup-layout.js';
import type { SandboxLimits } from './limits.js';
import { ownerAlive } from '../core/owner.js';

const CFS_PERIOD_US = 100_000;
const CONTROLLERS: readonly V1Controller[] = ['pids', 'memory', 'cpu'];
/** Every run's cgroups are made under this folder of each hierarchy, named `<owner pid>-<random>`. */
const PARENT = 'ltrack';
const RUN_NAME = /^(\d+)-[0-9a-f]{12}$/;

/**
 * The bubblewrap driver's limits and identity: cgroup v1 pids, memory and cpu folders (prlimit
 * NPROC does nothing for root) and, where the host has a cgroup v2 tree, a folder there whose inode
 * is the cgroup id the tracer and the socket hooks follow. A pure cgroup v2 host is refused for
 * now: its controllers need other files (pids.max in one folder, memory.max, cpu.max).
 */
export class RunCgroup {
  private constructor(
    private readonly dirs: Readonly<Record<V1Controller, string>>,
    private readonly v2Dir: string | undefined,
    readonly cgroupId: number | undefined,
  ) {}

  /** The folders are made inside the try that removes them again when a later step fails. */
  static async create(layout: CgroupLayout, limits: SandboxLimits): Promise<RunCgroup> {
    const missing = CONTROLLERS.filter((c) => layout.v1[c] === undefined);
    if (missing.length > 0)
      throw new LtrackError(
        'sandbox_failed',
        `the bwrap driver limits a run with cgroup v1 controllers; this host (cgroup ${layout.kind}) has no ${missing.join(', ')} hierarchy: use --sandbox docker`,
      );
    const name = `${process.pid}-${randomBytes(6).toString('hex')}`;
    const dirs = Object.fromEntries(CONTROLLERS.map((c) => [c, join(layout.v1[c]!, PARENT, name)])) as Record<V1Controller, string>;
    const v2Dir = layout.v2Root === undefined ? undefined : join(layout.v2Root, PARENT, name);
    const made: string[] = [];
    const mk = async (dir: string) => {
      await mkdir(join(dir, '..'), { recursive: true });
      await mkdir(dir);
      made.push(dir);
    };
    try {
      await mk(dirs.pids);
      await writeFile(join(dirs.pids, 'pids.max'), String(limits.pids));
      await mk(dirs.memory);
      await writeFile(join(dirs.memory, 'memory.limit_in_bytes'), String(limits.memoryBytes));
      await writeFile(join(dirs.memory, 'memory.memsw.limit_in_bytes'), String(limits.memoryBytes)).catch(() => undefined); // no swap accounting here
      // CPU: a CFS quota of `cpus` periods per period, as docker's NanoCpus sets it
      await mk(dirs.cpu);
      await writeFile(join(dirs.cpu, 'cpu.cfs_period_us'), String(CFS_PERIOD_US));
      await writeFile(join(dirs.cpu, 'cpu.cfs_quota_us'), String(Math.max(1000, Math.round(limits.cpus * CFS_PERIOD_US))));
      let cgroupId: number | undefined;
      if (v2Dir !== undefined) {
        await mk(v2Dir);
        cgroupId = (await stat(v2Dir)).ino;
      }
      return new RunCgroup(dirs, v2Dir, cgroupId);
    } catch (err) {
      for (const dir of made.reverse()) await rmdir(dir).catch(() => undefined);
      throw wrapError(err, 'sandbox_failed', `cannot create the sandbox cgroup ${name} (need root and cgroup v1 pids/memory/cpu)`);
    }
  }

  /** Moves a process (and so everything it starts) into every folder. */
  async add(pid: number): Promise<void> {
    for (const c of CONTROLLERS) await writeFile(join(this.dirs[c], 'cgroup.procs'), String(pid));
    if (this.v2Dir !== undefined) await writeFile(join(this.v2Dir, 'cgroup.procs'), String(pid));
  }

  async killAll(): Promise<void> {
    await killCgroup(this.dirs.pids);
  }

  /** How often this run's pids limit refused a fork or a thread (pids.events `max`), read by the host. */
  async pidsLimitHits(): Promise<number | undefined> {
    return readPidsLimitHits(this.dirs.pids);
  }

  /** Whether the memory controller OOM-killed something in this run. */
  async oomKilled(): Promise<boolean> {
    const text = await readFile(join(this.dirs.memory, 'memory.oom_control'), 'utf8').catch(() => '');
    return /oom_kill\s+[1-9]/.test(text);
  }

  async remove(): Promise<void> {
    await removeCgroup([...CONTROLLERS.map((c) => this.dirs[c]), ...(this.v2Dir === undefined ? [] : [this.v2Dir])], this.dirs.pids);
  }
}

async function cgroupPids(dir: string): Promise<number[]> {
  const text = await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map(Number);
}

async function killCgroup(dir: string): Promise<void> {
  for (const pid of await cgroupPids(dir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Kills what is left in a run's cgroup (its pids folder lists every process), then removes its folders. */
async function removeCgroup(dirs: string[], pidsDir: string): Promise<void> {
  await killCgroup(pidsDir);
  // a killed process leaves its cgroup only once it has exited: rmdir is refused with EBUSY until then
  for (let i = 0; i < 100 && (await cgroupPids(pidsDir)).length > 0; i++) {
    await new Promise((r) => setTimeout(r, 20));
    if (i % 10 === 9) await killCgroup(pidsDir); // a fork that raced the first kill
  }
  for (const dir of dirs) await rmdir(dir).catch(() => undefined);
}

/**
 * Cgroups of runs whose ltrack process no longer exists (SIGKILLed before its clean-up): their
 * processes are killed and their folders removed. Only folders under ltrack's parent whose names
 * carry a dead owner pid are touched. Returns the names swept.
 */
export async function sweepRunCgroups(layout: CgroupLayout): Promise<string[]> {
  const parents = [...CONTROLLERS.flatMap((c) => (layout.v1[c] === undefined ? [] : [join(layout.v1[c], PARENT)])), ...(layout.v2Root === undefined ? [] : [join(layout.v2Root, PARENT)])];
  const names = new Set<string>();
  for (const parent of parents) for (const name of await readdir(parent).catch(() => [] as string[])) names.add(name);
  const swept: string[] = [];
  for (const name of names) {
    const m = RUN_NAME.exec(name);
    if (!m || ownerAlive(Number(m[1]))) continue;
    const dirs = parents.map((p) => join(p, name));
    const pidsDir = layout.v1.pids === undefined ? join(layout.v2Root!, PARENT, name) : join(layout.v1.pids, PARENT, name);
    await removeCgroup(dirs, pidsDir);
    swept.push(name);
  }
  return swept;
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
