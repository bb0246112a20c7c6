import type { Command } from 'commander';
import { action, notBuilt } from '../run.js';

export function registerSandbox(program: Command): void {
  const sandbox = program.command('sandbox').description('the sandbox image and drivers');
  sandbox
    .command('build')
    .description('build the offline sandbox image (debootstrap + docker import) if its recipe changed')
    .action(action(() => notBuilt('ltrack sandbox build', 'issue 5')));
}
