import type { TraceEvent } from '../../src/core/event.js';
import type { RunPlan, SandboxResult } from '../../src/sandbox/index.js';
import { runTraced } from '../../src/vet/dynamic.js';

/**
 * Loads candidates in the real sandbox with the tracer attached and no static gate, no rules and
 * no scoring: what the candidate does when ltrack's checks are off. Integrity fixtures use it to
 * prove that they really do harm when loaded (the harm is a traced event), before a test shows
 * that `ltrack vet` blocks them.
 */
export async function loadUnchecked(plan: Partial<RunPlan> & Pick<RunPlan, 'models'>): Promise<{ events: TraceEvent[]; sandbox: SandboxResult; incomplete: string[] }> {
  const run = await runTraced({ driver: 'docker', network: 'none', timeoutSec: 120, ...plan }, () => undefined);
  return { events: run.events, sandbox: run.sandbox, incomplete: run.incomplete };
}

/** The fixtures' harmless payload ran: /bin/true was executed by the traced tree. */
export const ranTrue = (events: TraceEvent[]): boolean => events.some((e) => e.kind === 'exec' && /(^|\/)true$/.test(e.path ?? ''));

/** A traced open of `path` (exact), e.g. a canary under /tmp or a decoy secret. */
export const opened = (events: TraceEvent[], path: string): boolean => events.some((e) => e.kind === 'file_open' && e.path === path);

/** A traced connect to 127.0.0.1 (the only peer malicious fixtures may dial). */
export const dialedLoopback = (events: TraceEvent[]): boolean => events.some((e) => e.kind === 'connect' && e.addr === '127.0.0.1');
