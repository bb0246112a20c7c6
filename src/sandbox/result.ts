import { join } from 'node:path';
import { readChannel } from './channel.js';
import type { CappedSink } from './output.js';
import { CHANNEL_FILE, type Driver, type SandboxResult } from './plan.js';

/**
 * The result of a finished run, the same from both drivers: phases from the harness's channel (a
 * phase still open ends now), captured output, and the packages the install phase reported.
 */
export async function collectResult(
  driver: Driver,
  outDir: string,
  output: { stdout: CappedSink; stderr: CappedSink },
  end: { exitCode: number | null; oomKilled: boolean; timedOut: boolean },
  decoys: SandboxResult['decoys'],
): Promise<SandboxResult> {
  // process.hrtime is CLOCK_MONOTONIC, the clock the harness and the kernel stamp with.
  const { phases } = await readChannel(join(outDir, CHANNEL_FILE), Number(process.hrtime.bigint()));
  const install = phases.find((p) => p.phase === 'install');
  return {
    driver,
    phases,
    ...end,
    outputTruncated: output.stdout.dropped + output.stderr.dropped > 0,
    stdout: output.stdout.text(),
    stderr: output.stderr.text(),
    packages: (install?.detail?.packages as SandboxResult['packages'] | undefined) ?? [],
    asRoot: false,
    decoys,
  };
}
