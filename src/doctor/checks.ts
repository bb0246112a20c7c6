import { access, readFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

/** One line of `ltrack doctor`: what was checked, whether it holds, and what to do when it does not. */
export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  /** What to do about a failure (empty when ok). */
  fix: string;
}

const CAP_PERFMON = 38n;
const CAP_BPF = 39n;

/** Root, or CAP_BPF + CAP_PERFMON in the effective set (what loading and attaching tracepoints needs). */
export async function checkPrivileges(): Promise<Check> {
  const status = await readFile('/proc/self/status', 'utf8');
  const capEff = BigInt(`0x${/^CapEff:\s*([0-9a-f]+)/m.exec(status)?.[1] ?? '0'}`);
  const has = (bit: bigint) => (capEff >> bit) & 1n;
  const root = process.geteuid?.() === 0;
  const ok = root || (has(CAP_BPF) === 1n && has(CAP_PERFMON) === 1n);
  return {
    name: 'privileges',
    ok,
    detail: root ? 'running as root' : `CAP_BPF ${has(CAP_BPF) ? 'yes' : 'no'}, CAP_PERFMON ${has(CAP_PERFMON) ? 'yes' : 'no'}`,
    fix: ok ? '' : 'run as root, or grant CAP_BPF and CAP_PERFMON (and CAP_SYS_ADMIN for cgroup hooks)',
  };
}

export async function checkBtf(): Promise<Check> {
  const ok = await exists('/sys/kernel/btf/vmlinux');
  return {
    name: 'kernel BTF',
    ok,
    detail: ok ? '/sys/kernel/btf/vmlinux present (CO-RE relocations resolve)' : '/sys/kernel/btf/vmlinux missing',
    fix: ok ? '' : 'use a kernel built with CONFIG_DEBUG_INFO_BTF=y',
  };
}

/** Whether `bpf` is in the active LSM list; the BPF LSM enforcement tier needs it (and a kernel that lets it load). */
export async function checkBpfLsm(): Promise<Check> {
  let list: string;
  try {
    list = (await readFile('/sys/kernel/security/lsm', 'utf8')).trim();
  } catch {
    return { name: 'BPF LSM', ok: false, detail: 'cannot read /sys/kernel/security/lsm', fix: 'mount securityfs: mount -t securityfs securityfs /sys/kernel/security' };
  }
  const ok = list.split(',').includes('bpf');
  return {
    name: 'BPF LSM',
    ok,
    detail: `active LSMs: ${list}`,
    fix: ok ? '' : 'boot with lsm=...,bpf to enable the BPF LSM tier (without it enforcement falls back to the kill tier)',
  };
}

interface MountWant {
  fstype: string;
  target: string;
  why: string;
}
const MOUNTS: MountWant[] = [
  { fstype: 'tracefs', target: '/sys/kernel/tracing', why: 'tracepoint attach reads event ids' },
  { fstype: 'bpf', target: '/sys/fs/bpf', why: 'pinning maps for the agent' },
  { fstype: 'securityfs', target: '/sys/kernel/security', why: 'reading the active LSM list' },
];

export async function checkMounts(): Promise<Check[]> {
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  // mountinfo: "id parent major:minor root mountpoint options ... - fstype source superopts"
  const mounted = new Set(
    mountinfo.split('\n').flatMap((line) => {
      const [pre, post] = line.split(' - ');
      const target = pre?.split(' ')[4];
      const fstype = post?.split(' ')[0];
      return target && fstype ? [`${fstype} ${target}`] : [];
    }),
  );
  return MOUNTS.map((m) => {
    const ok = mounted.has(`${m.fstype} ${m.target}`);
    return {
      name: `${m.fstype} mount`,
      ok,
      detail: `${m.target} ${ok ? 'mounted' : 'not mounted'} (${m.why})`,
      fix: ok ? '' : `mount -t ${m.fstype} ${m.fstype} ${m.target}   (scripts/bootstrap does this)`,
    };
  });
}

export async function checkBwrap(): Promise<Check> {
  try {
    const { stdout } = await promisify(execFile)('bwrap', ['--version'], { timeout: 5000 });
    return { name: 'bubblewrap', ok: true, detail: stdout.trim(), fix: '' };
  } catch {
    return { name: 'bubblewrap', ok: false, detail: 'bwrap not found on PATH', fix: 'apt-get install bubblewrap' };
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}
