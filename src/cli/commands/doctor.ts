import type { Command } from 'commander';
import { action, notBuilt } from '../run.js';

export function registerDoctor(program: Command): void {
  program.command('doctor').description('check everything the dynamic path needs').action(action(() => notBuilt('ltrack doctor', 'issue 3')));
}
