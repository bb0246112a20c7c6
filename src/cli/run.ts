import { LtrackError, assertNever } from '../core/errors.js';
import { ExitCode } from '../core/exit.js';
import { forTerminal } from '../report/escape.js';

/** Maps an error to its exit code: the only place that does. */
export function exitCodeOf(err: LtrackError): ExitCode {
  switch (err.code) {
    case 'usage':
    case 'bad_input':
    case 'rules_invalid':
      return ExitCode.BadInput;
    case 'manifest_invalid':
      return ExitCode.Blocked;
    case 'tracer_unavailable':
    case 'signing_failed':
    case 'sandbox_failed':
    case 'upstream_failed':
      return ExitCode.Incomplete;
    case 'internal':
      return ExitCode.Incomplete;
    default:
      return assertNever(err.code, 'error code');
  }
}

/**
 * Runs a command body: its return value is the exit code; an LtrackError becomes one line on
 * stderr and its exit code. Anything else is a bug: one line too (stack only with LTRACK_DEBUG),
 * and exit 3 because a vet that crashed saw nothing it can vouch for.
 */
export function action<A extends unknown[]>(body: (...args: A) => Promise<ExitCode> | ExitCode) {
  return async (...args: A): Promise<void> => {
    try {
      process.exitCode = await body(...args);
    } catch (err) {
      if (err instanceof LtrackError) {
        process.stderr.write(`ltrack: ${err.file ? `${forTerminal(err.file)}: ` : ''}${oneLine(err.message)}\n`);
        process.exitCode = exitCodeOf(err);
      } else {
        process.stderr.write(`ltrack: internal error: ${oneLine(err instanceof Error ? err.message : String(err))}\n`);
        if (process.env.LTRACK_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
        process.exitCode = ExitCode.Incomplete;
      }
    }
  };
}

/**
 * An error message as one terminal line: it often carries a file or global name (the candidate's
 * words), so every control and bidi character is escaped, newlines included — one line, always.
 */
function oneLine(s: string): string {
  return forTerminal(s.length > 2000 ? `${s.slice(0, 2000)}…` : s);
}
