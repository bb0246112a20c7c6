import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * How this host mounts cgroups, read once from /proc/self/mountinfo and passed to whatever needs a
 * cgroup path (the tracer's socket hooks, the sandbox drivers' limits and cgroup ids):
 *   v1      only per-controller hierarchies (/sys/fs/cgroup/pids, …);
 *   hybrid  those, plus a cgroup v2 tree holding no controllers (/sys/fs/cgroup/unified here);
 *   v2      one unified tree at /sys/fs/cgroup with every controller.
 */
export interface CgroupLayout {
  kind: 'v1' | 'v2' | 'hybrid';
  /** Where the cgroup v2 tree is mounted: a folder's inode there is the cgroup id BPF sees. */
  v2Root: string | undefined;
  /** The mount point of each v1 controller hierarchy by controller name (`cpu` and `cpuacct` may share one). */
  v1: Readonly<Record<string, string>>;
}

/** The v1 controllers ltrack limits a run with. */
export type V1Controller = 'pids' | 'memory' | 'cpu';

/** Controllers of cgroup v1 (a v1 mount's super options also carry flags such as xattr, and name=). */
const V1_CONTROLLERS = new Set(['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'net_cls', 'net_prio', 'blkio', 'perf_event', 'hugetlb', 'pids', 'rdma', 'misc']);

/** Reads the layout from mountinfo text (`man 5 proc`: fields, ` - `, fstype, source, super options). */
export function parseMountinfo(text: string): CgroupLayout {
  let v2Root: string | undefined;
  const v1: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const [pre, post] = line.split(' - ');
    if (pre === undefined || post === undefined) continue;
    const mountPoint = unescapeMount(pre.split(' ')[4] ?? '');
    const [fstype, , superOpts = ''] = post.split(' ');
    if (fstype === 'cgroup2') v2Root ??= mountPoint;
    else if (fstype === 'cgroup') for (const opt of superOpts.split(',')) if (V1_CONTROLLERS.has(opt)) v1[opt] ??= mountPoint;
  }
  const hasV1 = Object.keys(v1).length > 0;
  return { kind: hasV1 ? (v2Root === undefined ? 'v1' : 'hybrid') : 'v2', v2Root, v1 };
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

let detected: Promise<CgroupLayout> | undefined;

/** This host's layout, detected on first use. */
export function cgroupLayout(): Promise<CgroupLayout> {
  detected ??= readFile('/proc/self/mountinfo', 'utf8').then(parseMountinfo);
  return detected;
}

/**
 * The cgroup folders of a process from /proc/<pid>/cgroup (`id:controllers:path`; `0::path` is
 * its v2 cgroup): its v2 folder and its v1 folder of each controller, where the layout has them.
 */
export function processCgroupDirs(procCgroup: string, layout: CgroupLayout): { v2?: string; v1: Partial<Record<V1Controller, string>> } {
  const out: { v2?: string; v1: Partial<Record<V1Controller, string>> } = { v1: {} };
  for (const line of procCgroup.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const [, id, controllers, path] = m as unknown as [string, string, string, string];
    if (id === '0' && controllers === '' && layout.v2Root !== undefined) out.v2 = join(layout.v2Root, path);
    for (const c of controllers.split(',')) {
      const root = layout.v1[c];
      if (root !== undefined && (c === 'pids' || c === 'memory' || c === 'cpu')) out.v1[c] = join(root, path);
    }
  }
  return out;
}
