import type { Command } from 'commander';
import { action, notBuilt } from '../run.js';

export function registerKey(program: Command): void {
  const key = program.command('key').description('signing keys');
  key.command('generate').argument('<prefix>', 'writes PREFIX.key (0600) and PREFIX.pub').description('generate an Ed25519 key pair').action(action(() => notBuilt('ltrack key generate', 'issue 7')));
}
