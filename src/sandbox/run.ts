import { LtrackError, wrapError } from '../core/errors.js';
import { cgroupLayout } from '../core/cgroup-layout.js';
import { dockerAnswers } from './docker-client.js';
import { dockerBox } from './docker.js';
import { bwrapBox } from './bwrap.js';
import { resolveLimits } from './limits.js';
import { CappedSink } from './output.js';
import { collectResult } from './result.js';
import { sweepLeftovers } from './sweep.js';
import type { Box, BoxContext } from './box.js';
import { decoyIdentities, followPhases, harnessPlan, makeRunDir, sandboxEnv, type Driver, type RunDir, type RunPlan, type SandboxHooks, type SandboxResult } from './plan.js';

/** `auto` is docker when its socket answers, else bwrap. */
export async function pickDriver(d: Driver | 'auto'): Promise<Driver> {
  if (d !== 'auto') return d;
  return (await dockerAnswers()) ? 'docker' : 'bwrap';
}

const BOXES: Record<Driver, (ctx: BoxContext) => Box> = { docker: dockerBox, bwrap: bwrapBox };

/**
 * Runs one plan in the chosen driver; the result has the same shape whichever ran it. The sequence
 * is the same for both: run folder and environment, the held start, the tracer's hook, go, phase
 * following, the time limit, the exit, the sink's records, the result; the driver only prepares,
 * starts, kills and waits. Every resource is acquired inside the try that frees it. An abort kills
 * the sandbox at once and the run rejects with the signal's reason once everything is released.
 */
export async function runSandbox(plan: RunPlan, hooks: SandboxHooks = {}, signal?: AbortSignal): Promise<SandboxResult> {
  if (!Number.isFinite(plan.timeoutSec) || plan.timeoutSec <= 0) throw new LtrackError('usage', `timeout must be a positive number of seconds, got ${plan.timeoutSec}`);
  const driver = await pickDriver(plan.driver);
  const layout = await cgroupLayout();
  await sweepLeftovers(layout);
  signal?.throwIfAborted();
  const limits = resolveLimits(plan.limits);
  const stdout = new CappedSink(limits.outputBytes);
  const stderr = new CappedSink(limits.outputBytes);
  let run: RunDir | undefined;
  let box: Box | undefined;
  let following: ReturnType<typeof followPhases>;
  let timer: NodeJS.Timeout | undefined;
  let sinkStopped = false;
  const onAbort = () => void box?.kill();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    run = await makeRunDir();
    const env = sandboxEnv(harnessPlan(plan, run, 'block'));
    box = BOXES[driver]({ plan, run, limits, layout, env, stdout, stderr });
    await box.prepare();
    signal?.throwIfAborted();
    const target = await box.start();
    signal?.throwIfAborted();
    await hooks.onReady?.({ pid: target.pid, ...(target.cgroupId === undefined ? {} : { cgroupId: target.cgroupId }) });
    signal?.throwIfAborted();
    box.go();
    following = followPhases(run.out, hooks);

    let timedOut = false;
    const b = box;
    timer = setTimeout(() => {
      timedOut = true;
      void b.kill();
    }, plan.timeoutSec * 1000);
    const exit = await box.wait();
    clearTimeout(timer);
    signal?.throwIfAborted();
    await following?.stop();
    following = undefined;
    const result = await collectResult(driver, run.out, { stdout, stderr }, { ...exit, timedOut }, decoyIdentities(run));
    if (target.cgroupId !== undefined) result.cgroupId = target.cgroupId;
    if (box.sink) {
      sinkStopped = true;
      result.sinkhole = await box.sink.stop();
    }
    return result;
  } catch (err) {
    await box?.kill();
    if (signal?.aborted) throw signal.reason;
    throw err instanceof LtrackError ? err : wrapError(err, 'sandbox_failed', `${driver} sandbox failed`);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    await following?.stop();
    if (box?.sink && !sinkStopped) await box.sink.stop().catch(() => undefined);
    await box?.release();
    await run?.cleanup();
  }
}
