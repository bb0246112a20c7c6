import type { Command } from 'commander';
import { action } from '../run.js';
import { ExitCode } from '../../core/exit.js';

export function registerSandbox(program: Command): void {
  const sandbox = program.command('sandbox').description('the sandbox image and drivers');
  sandbox
    .command('build')
    .description('build the offline sandbox image (debootstrap + docker import) if its recipe changed; a no-op otherwise')
    .action(
      action(async () => {
        const { ensureImage } = await import('../../sandbox/index.js');
        const t0 = performance.now();
        const info = await ensureImage({ onProgress: (m) => process.stderr.write(`sandbox: ${m}\n`) });
        const secs = ((performance.now() - t0) / 1000).toFixed(1);
        process.stdout.write(`${info.tag} ${info.built ? `built in ${secs}s` : 'up to date'} (rootfs ${info.rootfs})\n`);
        return ExitCode.Pass;
      }),
    );
}
