/**
 * One error class for the whole tool. `code` is a literal union so callers switch on it
 * exhaustively; `cause` always keeps the original error. Only src/cli maps codes to exit codes.
 */
type ErrorCode =
  | 'usage' // bad command line
  | 'bad_input' // a user file is unreadable, truncated, malformed or over a limit
  | 'tracer_unavailable' // kernel or privileges do not allow tracing
  | 'sandbox_failed' // the sandbox could not be created or run
  | 'rules_invalid' // a rule file fails its schema or its inline tests
  | 'manifest_invalid' // a manifest fails verification
  | 'signing_failed' // a manifest could not be signed (key unusable, Sigstore unreachable)
  | 'upstream_failed' // the Hugging Face Hub (or the gate's upstream) could not be reached or answered out of its API
  | 'internal'; // a bug in ltrack

export class LtrackError extends Error {
  readonly code: ErrorCode;
  /** The file the error is about, named in the one-line message the CLI prints. */
  readonly file: string | undefined;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; file?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LtrackError';
    this.code = code;
    this.file = options.file;
  }
}

/** Wraps anything thrown at a boundary (fs, docker, addon, TOML) without losing it. */
export function wrapError(err: unknown, code: ErrorCode, message: string, file?: string): LtrackError {
  if (err instanceof LtrackError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  return new LtrackError(code, `${message}: ${detail}`, { cause: err, ...(file === undefined ? {} : { file }) });
}

export function assertNever(value: never, what = 'value'): never {
  throw new LtrackError('internal', `unhandled ${what}: ${JSON.stringify(value)}`);
}
