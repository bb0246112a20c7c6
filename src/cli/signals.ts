import { ExitCode } from '../core/exit.js';

/** A vet stopped by a signal: the reason its AbortSignal carries. */
export class Interrupted extends Error {
  constructor(readonly signalName: 'SIGINT' | 'SIGTERM') {
    super(`interrupted by ${signalName}`);
    this.name = 'Interrupted';
  }
}

const EXIT_OF: Record<Interrupted['signalName'], ExitCode> = { SIGINT: ExitCode.Interrupted, SIGTERM: ExitCode.Terminated };

/**
 * How long clean-up (killing and removing the sandbox, detaching the tracer, removing the staging
 * copies) may take after a signal before the process exits anyway; whatever is left then is swept
 * by label at the next start. A second signal exits at once.
 */
const CLEANUP_GRACE_MS = 30_000;

export interface SignalAbort {
  signal: AbortSignal;
  /** The exit code of the signal that aborted the run; undefined while none has. */
  exitCode(): ExitCode | undefined;
  /** Gives SIGINT and SIGTERM back to their default handling. */
  dispose(): void;
}

/** Maps SIGINT and SIGTERM to an abort of one command's work, for as long as it runs. */
export function abortOnSignals(): SignalAbort {
  const controller = new AbortController();
  let received: Interrupted['signalName'] | undefined;
  const on = (sig: Interrupted['signalName']) => {
    if (received !== undefined) process.exit(EXIT_OF[received]);
    received = sig;
    process.stderr.write(`ltrack: ${sig}: stopping and cleaning up\n`);
    controller.abort(new Interrupted(sig));
    setTimeout(() => {
      process.stderr.write(`ltrack: clean-up did not finish within ${CLEANUP_GRACE_MS / 1000} s; the next run sweeps what is left\n`);
      process.exit(EXIT_OF[sig]);
    }, CLEANUP_GRACE_MS).unref();
  };
  process.on('SIGINT', on);
  process.on('SIGTERM', on);
  return {
    signal: controller.signal,
    exitCode: () => (received === undefined ? undefined : EXIT_OF[received]),
    dispose() {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
    },
  };
}
