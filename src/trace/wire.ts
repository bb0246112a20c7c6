import { EVENT_KINDS, type EventKind } from '../core/event.js';

/**
 * The wire layout of bpf/ltrack.h, mirrored once for the decoder and the map-key encoders.
 * test/trace/btf-layout.test.ts reads the BTF of the built object and fails on any drift, so
 * these numbers are checked, not trusted.
 */

/** enum lt_limit: bounds of the wire format, for callers that size things. */
export const LIMITS = {
  commLen: 16,
  pathMax: 4096,
  argvMax: 1024,
  walkSteps: 128,
  rulePath: 256,
  unixPath: 108,
  aggPath: 512,
} as const;

/** struct lt_hdr field offsets. */
export const HDR = {
  size: 64,
  ts: 0,
  cgroup: 8,
  recSize: 16,
  kind: 20,
  flags: 22,
  pid: 24,
  tgid: 28,
  ppid: 32,
  uid: 36,
  mntns: 40,
  count: 44,
  comm: 48,
  commLen: LIMITS.commLen,
} as const;

/** Body layouts (offsets from the end of the header); `size` is where the string tail starts. */
export const BODY = {
  lt_fork: { size: 8, child_tgid: 0 },
  lt_exit: { size: 8, exit_code: 0 },
  lt_exec: { size: 8, path_len: 0, argv_len: 2, argc: 4, rule: 6 },
  lt_open: { size: 24, inode: 0, dev: 8, flags: 12, ret: 16, path_len: 20, rule: 22 },
  lt_mmap: { size: 24, inode: 0, dev: 8, prot: 12, path_len: 16 },
  lt_net: { size: 32, addr: 0, ret: 16, family: 20, port: 22, path_len: 24, rule: 26 },
  lt_sendfile: { size: 16, bytes: 0, path_len: 8, via: 10 },
  lt_op_ev: { size: 16, arg: 0, op: 8, path_len: 12 },
} as const;

/** Map key layouts. */
export const KEYS = {
  lt_inode_key: { size: 16, inode: 0, dev: 8 },
  lt_net_key: { size: 24, addr: 0, family: 16, port: 18 },
  lt_path_key: { size: 256, path: 0 },
  lt_prefix_key: { size: 260, prefixlen: 0, path: 4 },
} as const;

/** enum lt_kind: the wire value of a kind is its index in EVENT_KINDS. */
export const KIND_VALUE: Readonly<Record<EventKind, number>> = Object.fromEntries(EVENT_KINDS.map((k, i) => [k, i])) as Record<EventKind, number>;
export const KIND_COUNT = EVENT_KINDS.length;

/** enum lt_flag */
export const FLAG = { truncated: 1, unresolved: 2, killed: 4, denied: 8, mprotect: 16, rename: 32, link: 64, guard: 128 } as const;

/** enum lt_op, by wire value: the syscall a privileged-operation event reports. */
export const OPS = [
  'ptrace',
  'setuid',
  'setgid',
  'setreuid',
  'setregid',
  'setresuid',
  'setresgid',
  'capset',
  'mount',
  'bpf',
  'init_module',
  'finit_module',
  'io_uring_setup',
  'mount_setattr',
  'fsmount',
] as const;

/** enum lt_xfer, by wire value: how a sendfile event moved the file's bytes. */
export const XFERS = ['sendfile', 'splice'] as const;

/** enum lt_family, by wire value. */
export const FAMILIES = ['other', 'inet', 'inet6', 'unix'] as const;

/** enum lt_mode_bits (slot LT_MODE_ENFORCE of lt_mode) */
export const MODE = { killExec: 1, killMmap: 2, denyNet: 4, guard: 8, killGuard: 16 } as const;
/** enum lt_guard_state: values of lt_guard */
export const GUARD_STATE = { verified: 1, suspect: 2 } as const;
/** enum lt_mode_slot: the slots of the lt_mode map */
export const MODE_SLOT = { enforce: 0, ruleKinds: 1, slots: 2 } as const;
