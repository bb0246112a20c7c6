import { spawnSync } from 'node:child_process';
import { projectPath } from '../../src/core/paths.js';

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI (dist/, made by scripts/bootstrap) as a user would. */
export function ltrack(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): CliRun {
  const r = spawnSync(process.execPath, [projectPath('dist/cli/main.js'), ...args], {
    cwd: opts.cwd ?? projectPath(),
    env: { ...process.env, ...opts.env, NO_COLOR: '1' },
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 600_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
