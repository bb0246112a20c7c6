import { LtrackError } from '../core/errors.js';
import { dockerAnswers } from './docker-client.js';
import { runDocker } from './docker.js';
import { runBwrap } from './bwrap.js';
import type { Driver, RunPlan, SandboxHooks, SandboxResult } from './plan.js';

/** `auto` is docker when its socket answers, else bwrap. */
export async function pickDriver(d: Driver | 'auto'): Promise<Driver> {
  if (d !== 'auto') return d;
  return (await dockerAnswers()) ? 'docker' : 'bwrap';
}

/** Runs one plan in the chosen driver; the result has the same shape whichever ran it. */
export async function runSandbox(plan: RunPlan, hooks: SandboxHooks = {}): Promise<SandboxResult> {
  if (!Number.isFinite(plan.timeoutSec) || plan.timeoutSec <= 0) throw new LtrackError('usage', `timeout must be a positive number of seconds, got ${plan.timeoutSec}`);
  const driver = await pickDriver(plan.driver);
  switch (driver) {
    case 'docker':
      return runDocker(plan, hooks);
    case 'bwrap':
      return runBwrap(plan, hooks);
  }
}
