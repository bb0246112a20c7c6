/**
 * The subset of rules the kernel can decide, as the rule engine compiles it (src/rules) and the
 * tracer loads it into BPF maps (src/trace). Each entry carries the index of the rule it came from
 * so a kernel decision can be attributed to a rule id. Paths are as seen inside the sandbox.
 */
export interface KernelRuleSet {
  /** Rule ids by index; entries below refer to them by position. */
  ruleIds: string[];
  openExact: { path: string; rule: number }[];
  openPrefix: { prefix: string; rule: number }[];
  execPath: { path: string; rule: number }[];
  connectPort: { port: number; rule: number }[];
}

/** Enforcement mode of the kernel hooks; `observe` is the vet's (nothing is denied or killed). */
export type EnforcementMode = 'observe' | 'enforce';

/** What an agent (or a test) allows when enforcing: everything else is denied or killed. */
export interface KernelAllowlist {
  execPaths: string[];
  /** Libraries allowed to be mapped executable: by path, or by (dev, inode). */
  libraryPaths: string[];
  libraryInodes: { dev: number; inode: number }[];
  /** Allowed connect peers; an empty list denies every connect/sendmsg. */
  connect: { addr: string; port: number }[];
}
