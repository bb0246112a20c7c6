import type { EnforcementMode } from '../core/kernel-filter.js';
import { ENFORCED_KINDS, type EnforcedKind } from './types.js';

/**
 * The tier each kind is enforced in on this kernel. BPF LSM does not load on kernels of this kind
 * (refused with EPERM), so exec and executable mappings are killed by bpf_send_signal at the
 * tracepoint, before the new code's first instruction, and opens are reported: a tracepoint cannot
 * refuse one. With `--landlock` (a command the agent launches) Landlock refuses execs and reads
 * outside the allowlists first. A model file not verified is guarded the same way: the opener is killed on its way
 * back from open(2), before it can read.
 */
export function enforcementTiers(mode: EnforcementMode, guarded: boolean, landlock = false): Record<EnforcedKind, string> {
  if (mode === 'observe') return Object.fromEntries(ENFORCED_KINDS.map((k) => [k, 'observe'])) as Record<EnforcedKind, string>;
  return {
    exec: landlock ? 'prevent:landlock+kill:bpf_send_signal' : 'kill:bpf_send_signal',
    mmap_exec: 'kill:bpf_send_signal',
    network: 'prevent:cgroup-sock',
    file_open: landlock ? 'prevent:landlock' : 'alert',
    integrity: guarded ? 'kill:bpf_send_signal(open of an unverified model file)+quarantine' : 'none',
  };
}
