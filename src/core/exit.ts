/** Exit codes of the CLI contract (DESIGN.md). Vetting fails closed: anything unseen is Incomplete. */
export enum ExitCode {
  Pass = 0,
  Blocked = 1,
  BadInput = 2,
  Incomplete = 3,
}
