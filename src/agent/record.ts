import type { TraceEvent } from '../core/event.js';
import { LtrackError } from '../core/errors.js';
import { startTrace } from '../trace/index.js';
import { recordBaseline, type BaselineStatement } from './baseline.js';
import { launchHeld } from './launch.js';

/**
 * Runs a warm-up of the serving command under an observing trace (nothing is enforced) and returns
 * its baseline statement, unsigned. The command is held until the trace follows it, so everything
 * it does is seen. SIGINT or SIGTERM to ltrack is passed to the command (how an operator ends a
 * server's warm-up); any other failure of the warm-up, or a lost event, means the record is not
 * the whole behaviour and nothing is returned.
 */
export async function recordWarmup(command: string[], days: number, log: (line: string) => void): Promise<{ statement: BaselineStatement; skipped: { path: string; reason: string }[] }> {
  const held = launchHeld(command);
  let session;
  try {
    session = await startTrace({ pid: held.pid }, { mode: 'observe', kinds: ['exec', 'mmap_exec', 'connect', 'sendmsg', 'file_open'] });
  } catch (err) {
    held.child.kill('SIGKILL');
    throw err;
  }
  const kept: TraceEvent[] = [];
  const consumer = (async () => {
    for await (const batch of session) for (const e of batch) kept.push(e);
  })();
  // set by the signal handler: a warm-up the operator ended by signal may exit non-zero
  const ended = { bySignal: false };
  const onStop = (sig: NodeJS.Signals) => {
    ended.bySignal = true;
    held.child.kill(sig);
  };
  process.on('SIGINT', onStop);
  process.on('SIGTERM', onStop);
  log(`ltrack agent baseline: recording ${command.join(' ')} (pid ${held.pid}); end the warm-up by letting it exit or with SIGINT`);
  held.go();
  let code: number;
  try {
    code = await held.exited;
  } finally {
    process.off('SIGINT', onStop);
    process.off('SIGTERM', onStop);
  }
  const stats = await session.stop();
  await consumer;
  if (stats.drops > 0 || stats.lostForks > 0)
    throw new LtrackError('tracer_unavailable', `the trace lost ${stats.drops} event(s) and ${stats.lostForks} fork(s): the baseline would not be the whole warm-up; nothing was signed`);
  if (code !== 0 && !ended.bySignal) throw new LtrackError('bad_input', `the warm-up command exited with ${code}; nothing was signed`);
  const program = kept.find((e) => e.kind === 'exec')?.path;
  if (program === undefined) throw new LtrackError('bad_input', 'the warm-up command never started (no exec seen); nothing was signed');
  return recordBaseline(kept, { command, program, days });
}
