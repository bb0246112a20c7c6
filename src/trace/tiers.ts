import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LtrackError } from '../core/errors.js';
import { cgroupLayout } from '../core/cgroup-layout.js';
import { ADDON_PATH, addonError, loadAddon } from './addon.js';

export interface Tier {
  tier: string;
  available: boolean;
  detail: string;
}

async function exists(p: string): Promise<boolean> {
  return access(p).then(
    () => true,
    () => false,
  );
}

/**
 * What this machine offers the tracer, for `ltrack doctor`. The observation tiers are probed by
 * really loading and attaching the tracer (and freeing it at once): a listed capability that
 * refuses to load (BPF LSM on this kind of kernel) must not read as available.
 */
export async function probeTiers(): Promise<Tier[]> {
  const out: Tier[] = [];
  out.push({ tier: 'addon', available: await exists(ADDON_PATH), detail: ADDON_PATH });
  out.push({ tier: 'btf', available: await exists('/sys/kernel/btf/vmlinux'), detail: '/sys/kernel/btf/vmlinux (CO-RE)' });
  out.push({ tier: 'tracefs', available: await exists('/sys/kernel/tracing/events/syscalls'), detail: 'syscall tracepoints need tracefs at /sys/kernel/tracing' });
  const layout = await cgroupLayout();
  out.push({
    tier: 'cgroup2',
    available: layout.v2Root !== undefined && (await exists(join(layout.v2Root, 'cgroup.procs'))),
    detail: `cgroup ${layout.kind}; v2 tree ${layout.v2Root ?? 'not mounted'} (socket hooks, container targets)`,
  });
  let load: Tier;
  try {
    const addon = loadAddon();
    const h = addon.open({ ringBytes: 1 << 16, kindMask: 0xffff, wakeupBytes: 1 << 14, cgroupHooks: 1, aggregateMs: 0, cgroupRoot: layout.v2Root ?? '' });
    const skipped = addon.skipped(h);
    addon.close(h);
    load = { tier: 'observe:tracepoints+cgroup-sock', available: true, detail: `loaded and attached${skipped ? `; absent in this kernel: ${skipped}` : ''}` };
  } catch (err) {
    const e = err instanceof LtrackError ? err : addonError(err, 'load');
    load = { tier: 'observe:tracepoints+cgroup-sock', available: false, detail: e.message };
  }
  out.push(load);
  out.push({ tier: 'enforce:kill', available: load.available, detail: 'bpf_send_signal(SIGKILL) at exec and executable mmap, before the new code runs' });
  out.push({ tier: 'enforce:deny-net', available: load.available, detail: 'cgroup connect/sendmsg hooks return EPERM' });
  const lsm = await readFile('/sys/kernel/security/lsm', 'utf8').then(
    (s) => s.trim(),
    () => '',
  );
  out.push({
    tier: 'enforce:bpf-lsm',
    available: false,
    detail: lsm.split(',').includes('bpf')
      ? `bpf is listed (${lsm}) but this tracer has no LSM programs; kernels of this kind refuse them at load (EPERM)`
      : `bpf not in the active LSM list (${lsm || 'securityfs not mounted'})`,
  });
  return out;
}
