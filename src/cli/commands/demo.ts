import type { Command } from 'commander';
import { action, notBuilt } from '../run.js';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('vet the bundled fixtures end to end and print a table of file, verdict, top finding')
    .action(action(() => notBuilt('ltrack demo', 'issue 6')));
}
