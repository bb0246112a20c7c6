import type { Command } from 'commander';
import { action, notBuilt } from '../run.js';

/** Commands of the contract whose issues have not landed: they say so and exit 2. */
export function registerPending(program: Command): void {
  program
    .command('gate')
    .description('gate a Hugging Face snapshot import before promotion (not built yet)')
    .argument('<snapshot>', 'snapshot folder')
    .action(action(() => notBuilt('ltrack gate', 'Hugging Face gate issue')));
}
