import { availableParallelism } from 'node:os';
import { LtrackError } from '../core/errors.js';
import type { SharedTrace } from '../trace/index.js';
import { imageFacts, vet, type VetBatch, type VetOptions, type VetOutcome } from './index.js';

/** One candidate's end: its outcome, or the error that stopped its vet (its own, never another's). */
export type CandidateResult = { paths: string[]; outcome: VetOutcome } | { paths: string[]; error: LtrackError };

export interface ManyOptions {
  /** sandboxes run side by side; default the core count */
  jobs?: number;
  /** called as each candidate ends (in completion order), so its events can be written and let go */
  onResult?: (index: number, result: CandidateResult) => Promise<void> | void;
}

/** `--jobs` default: one sandbox per core. */
export function defaultJobs(): number {
  return Math.max(1, availableParallelism());
}

/**
 * Vets several candidates, each its own vet and verdict, with one tracer for all of them: it is
 * attached once here and each sandbox takes a lease on its cgroup (src/trace/shared.ts states
 * the attribution rules). At most `jobs` vets run at once; one candidate's failure ends only its
 * own vet. Results come back in the candidates' order.
 */
export async function vetMany(candidates: string[][], opts: Omit<VetOptions, 'paths' | 'batch'>, many: ManyOptions = {}): Promise<CandidateResult[]> {
  const jobs = many.jobs ?? defaultJobs();
  if (!Number.isInteger(jobs) || jobs < 1) throw new LtrackError('usage', `--jobs must be a positive integer, got ${jobs}`);
  // A tracer that cannot attach fails every dynamic vet alike: the whole run stops, as one vet would.
  const tracer = opts.staticOnly ? undefined : await openShared();
  const { loadRuleSet } = await import('../rules/index.js');
  const batch: VetBatch = { rules: loadRuleSet(), ...(tracer ? { tracer, image: imageFacts() } : {}) };
  // a rejection is each vet's to report; unobserved here it must not end the process
  for (const p of [batch.rules, batch.image]) p?.catch(() => undefined);
  const results: CandidateResult[] = new Array<CandidateResult>(candidates.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < candidates.length; i = next++) {
      // an aborted batch (SIGINT/SIGTERM) starts no new candidate; the running ones abort themselves
      if (opts.signal?.aborted) throw opts.signal.reason;
      const paths = candidates[i]!;
      const result = await vet({ ...opts, paths, batch }).then(
        (outcome): CandidateResult => ({ paths, outcome }),
        (err: unknown): CandidateResult => ({ paths, error: asLtrackError(err) }),
      );
      results[i] = result;
      try {
        await many.onResult?.(i, result);
      } catch (err) {
        next = candidates.length; // no new candidate starts; the ones running finish
        throw err;
      }
    }
  };
  try {
    // every worker ends before this returns (a failed onResult must not leave sandboxes running unattended)
    const ends = await Promise.allSettled(Array.from({ length: Math.min(jobs, candidates.length) }, worker));
    const failed = ends.find((e): e is PromiseRejectedResult => e.status === 'rejected');
    if (failed) throw failed.reason;
  } finally {
    await tracer?.close();
  }
  return results;
}

async function openShared(): Promise<SharedTrace> {
  const { SharedTrace } = await import('../trace/index.js');
  try {
    return await SharedTrace.open();
  } catch (err) {
    throw err instanceof LtrackError ? err : new LtrackError('tracer_unavailable', `tracer did not start: ${String(err)}`, { cause: err });
  }
}

/** A bug in one candidate's vet is that candidate's internal error (exit 3), not the whole run's. */
function asLtrackError(err: unknown): LtrackError {
  return err instanceof LtrackError ? err : new LtrackError('internal', err instanceof Error ? err.message : String(err), { cause: err });
}
