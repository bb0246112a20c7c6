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
  sandbox
    .command('export')
    .description("write the current recipe's sandbox as one tarball (for a CI cache keyed by the recipe digest)")
    .argument('<file>', 'the tarball to write')
    .action(
      action(async (file: string) => {
        const { exportSandbox } = await import('../../sandbox/cache.js');
        const { digest } = await exportSandbox(file);
        process.stdout.write(`sandbox of recipe ${digest} written to ${file}\n`);
        return ExitCode.Pass;
      }),
    );
  sandbox
    .command('import')
    .description('restore the sandbox from a tarball of `sandbox export` (refused when it is of another recipe), then make its docker image')
    .argument('<file>', 'the tarball to read')
    .action(
      action(async (file: string) => {
        const [{ importSandbox }, { ensureImage }] = await Promise.all([import('../../sandbox/cache.js'), import('../../sandbox/index.js')]);
        const { digest, restored } = await importSandbox(file);
        const info = await ensureImage();
        process.stdout.write(`sandbox of recipe ${digest} ${restored ? 'restored' : 'already present'}; image ${info.tag}\n`);
        return ExitCode.Pass;
      }),
    );
}
