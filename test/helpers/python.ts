import { spawnSync } from 'node:child_process';
import { requireImage } from '../../src/sandbox/image.js';

/**
 * Runs a Python script and returns its stdout: on the host's /usr/bin/python3 (what the fixture
 * generators run with), or on the sandbox image's python3 in a container with no network, a
 * read-only root and no privileges (what loads candidates). `mounts` are host folders bound
 * read-only at the given container paths.
 */
export type PythonWhere = 'host' | 'image';

/**
 * `docker run` arguments for the sandbox image's python3 (isolated mode, no bytecode written) in a
 * locked-down container: no network, read-only root, nobody, no capabilities, no privilege gain.
 * `extra` goes before the image (resource limits, -i for stdin).
 */
export async function imagePythonArgs(pythonArgs: string[], mounts: Record<string, string> = {}, extra: string[] = []): Promise<string[]> {
  return [
    'run',
    '--rm',
    '--network',
    'none',
    '--read-only',
    '--user',
    '65534:65534',
    '--cap-drop',
    'ALL',
    '--security-opt',
    'no-new-privileges',
    ...extra,
    ...Object.entries(mounts).flatMap(([dst, src]) => ['--mount', `type=bind,src=${src},dst=${dst},readonly`]),
    (await requireImage('docker')).tag,
    'python3',
    '-I',
    '-B',
    ...pythonArgs,
  ];
}

export async function runPython(where: PythonWhere, script: string, mounts: Record<string, string> = {}): Promise<string> {
  const command = where === 'host' ? ['/usr/bin/python3', '-I', '-B', '-c', script] : ['docker', ...(await imagePythonArgs(['-c', script], mounts))];
  const r = spawnSync(command[0]!, command.slice(1), { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`${where} python exited ${r.status}: ${r.error?.message ?? r.stderr.slice(-2000)}`);
  return r.stdout;
}
