import { join } from 'node:path';
import { readChannel } from './channel.js';
import type { CappedSink } from './output.js';
import { CHANNEL_FILE, type Driver, type SandboxResult } from './plan.js';

/**
 * The result of a finished run, the same from both drivers: the harness's own (untrusted) account of
 * its phases from the channel, captured output, the packages the install phase reported, and the
 * pids cgroup's limit counter. Phase times are not here: they come from the kernel (src/vet/phases.ts).
 */
export async function collectResult(
  driver: Driver,
  outDir: string,
  output: { stdout: CappedSink; stderr: CappedSink },
  end: { exitCode: number | null; oomKilled: boolean; timedOut: boolean; pidsLimitHits: number | undefined },
  decoys: SandboxResult['decoys'],
): Promise<SandboxResult> {
  const { reports } = await readChannel(join(outDir, CHANNEL_FILE));
  const install = reports.find((p) => p.phase === 'install');
  const { pidsLimitHits, ...rest } = end;
  return {
    driver,
    phases: [],
    reports,
    ...(pidsLimitHits === undefined ? {} : { pidsLimitHits }),
    ...rest,
    outputTruncated: output.stdout.dropped + output.stderr.dropped > 0,
    stdout: output.stdout.text(),
    stderr: output.stderr.text(),
    packages: (install?.detail?.packages as SandboxResult['packages'] | undefined) ?? [],
    decoys,
  };
}
