import { execFile, spawnSync } from 'node:child_process';
import { projectPath } from '../../src/core/paths.js';

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The CLI as installed: package.json's bin, the bundle scripts/bootstrap builds (scripts/bundle.mjs). */
export const CLI_BIN = projectPath('dist/bin/ltrack.js');

/** Runs the built CLI as a user would. */
export function ltrack(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): CliRun {
  const r = spawnSync(process.execPath, [CLI_BIN, ...args], {
    cwd: opts.cwd ?? projectPath(),
    env: { ...process.env, ...opts.env, NO_COLOR: '1' },
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 600_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * The same, without blocking this process: for tests whose own servers (a Hub stand-in, a
 * receiver) the CLI talks to, which a synchronous spawn would starve.
 */
export function ltrackAsync(args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI_BIN, ...args],
      { cwd: projectPath(), env: { ...process.env, ...opts.env, NO_COLOR: '1' }, encoding: 'utf8', timeout: 600_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
    );
  });
}
