/** Exit codes of the CLI contract (DESIGN.md). Vetting fails closed: anything unseen is Incomplete. */
export enum ExitCode {
  Pass = 0,
  Blocked = 1,
  BadInput = 2,
  Incomplete = 3,
  /** Stopped by SIGINT or SIGTERM after cleaning up: the shell's 128 + signal number (DESIGN.md names no code for it). */
  Interrupted = 130,
  Terminated = 143,
}
