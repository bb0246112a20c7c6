import { LtrackError } from '../core/errors.js';

/** Resource limits of one sandbox run; both drivers apply the same numbers. */
export interface SandboxLimits {
  /** Memory of the whole sandbox (tmpfs pages included), bytes; no swap on top. */
  memoryBytes: number;
  /** Processes and threads together (torch alone starts a few dozen threads). */
  pids: number;
  /** CPU share, in cores. */
  cpus: number;
  /** Size cap of the /tmp tmpfs, which holds the install prefix (real wheels are large). */
  tmpBytes: number;
  /** Size cap of the HOME tmpfs. */
  homeBytes: number;
  /** Bytes of stdout and of stderr kept each; the rest is counted and dropped. */
  outputBytes: number;
  /**
   * How long the run stays open after the harness finished while processes it did not wait for
   * (daemons) are still alive, so that what they do is observed before everything is killed.
   */
  lingerMs: number;
}

const MiB = 1024 * 1024;

/** Defaults sized for a torch load plus a modest dependency set on a small CI machine. */
export const DEFAULT_SANDBOX_LIMITS: Readonly<SandboxLimits> = Object.freeze({
  memoryBytes: 2048 * MiB,
  pids: 256,
  cpus: 1,
  tmpBytes: 1024 * MiB,
  homeBytes: 64 * MiB,
  outputBytes: 256 * 1024,
  lingerMs: 3000,
});

/** Fills a partial limit set from the defaults and rejects nonsense before any driver sees it. */
export function resolveLimits(partial: Partial<SandboxLimits> = {}): SandboxLimits {
  const limits: SandboxLimits = { ...DEFAULT_SANDBOX_LIMITS, ...partial };
  for (const [key, value] of Object.entries(limits)) {
    if (!Number.isFinite(value) || value <= 0) {
      throw new LtrackError('usage', `sandbox limit ${key} must be a positive number, got ${String(value)}`);
    }
  }
  if (limits.memoryBytes < 64 * MiB) throw new LtrackError('usage', 'sandbox memory limit below 64 MiB cannot start Python');
  if (limits.pids < 8) throw new LtrackError('usage', 'sandbox pids limit below 8 cannot start Python');
  return limits;
}
