import type { Phase } from './phase.js';

/**
 * The event contract between the tracer and everything above it (DESIGN.md "Event").
 * The wire format lives in bpf/ltrack.h and is decoded in src/trace/decode.ts; this is the
 * plain-object shape the rules, reports and events.jsonl see. Paths are as seen inside the
 * sandbox. Kind-specific fields are optional and present only for their kinds.
 */
export const EVENT_KINDS = [
  'fork',
  'exec',
  'exit',
  'file_open',
  'mmap_exec', // mmap(PROT_EXEC) or mprotect adding exec on a file: dlopen, ctypes, .so imports
  'connect',
  'bind',
  'sendmsg',
  'sendfile', // sendfile / splice / copy_file_range from a file to a socket
  'ptrace',
  'setid', // setuid / setgid / setresuid / capset and friends
  'mount',
  'bpf',
  'module_load', // init_module / finit_module
  'memfd_create',
  'io_uring',
] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

export interface TraceEvent {
  /** Nanoseconds, CLOCK_MONOTONIC (bpf_ktime_get_ns). */
  ts: number;
  kind: EventKind;
  pid: number;
  tgid: number;
  ppid: number;
  uid: number;
  /** cgroup v2 id (inode of the cgroup folder). */
  cgroup: number;
  /** mount namespace inode. */
  mntns: number;
  comm: string;
  /** Set by the vet from the harness's phase markers as the kernel saw them (src/vet/phases.ts); absent outside a vet. */
  phase?: Phase;
  /** How many identical events the kernel folded into this one (>= 1). */
  count: number;

  /** file_open, exec (filename), mmap_exec, sendfile (source file), memfd_create (name). */
  path?: string;
  /** True when the path is the user's unresolved string (a failed open). */
  pathUnresolved?: boolean;
  /** True when a bounded copy cut the path or argv. */
  truncated?: boolean;
  /** open flags; mmap/mprotect prot. */
  flags?: number;
  /** Negative errno when the operation failed, 0 on success. */
  ret?: number;
  /** exec */
  argv?: string[];
  /** fork: the child tgid; exit: the exit code. */
  childTgid?: number;
  exitCode?: number;
  /** connect / bind / sendmsg */
  family?: 'inet' | 'inet6' | 'unix' | 'other';
  addr?: string;
  port?: number;
  /** sendfile: bytes requested; target is a socket. */
  bytes?: number;
  /** mmap_exec, file_open (successful): inode and device of the file, device in the kernel's
   * s_dev encoding (major << 20 | minor; src/trace/identity.ts converts a host stat to it). */
  inode?: number;
  dev?: number;
  /** setid / ptrace / mount / bpf: the syscall's name and its main argument. file_open: 'rename'
   * or 'link' when the event reports a name made by rename(2) or link/symlink(2) (flags then
   * O_WRONLY|O_CREAT, path the user's string joined to its directory). */
  op?: string;
  arg?: number;
  /** Id of the kernel rule (KernelRuleSet, src/core/kernel-filter.ts) this event matched, when
   * the tracer ran with kernel rules. */
  ruleId?: string;
  /** file_open: set by the vet when the opened file is one of the run's planted decoy secrets
   * (same inode and device, whatever path reached it): the decoy's planted path. */
  decoy?: string;
  /** Set when an enforcement hook acted on this event (denied / killed). */
  enforced?: 'denied' | 'killed';
  /** file_open of a model file under the agent's integrity watch: a write-open by any process
   * (outside the traced tree too), or an open by the traced tree of one not verified. */
  guarded?: boolean;
}
