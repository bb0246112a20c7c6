import type { Command } from 'commander';
import { action } from '../run.js';
import { ExitCode } from '../../core/exit.js';
import { forTerminal } from '../../report/escape.js';

export function registerKey(program: Command): void {
  const key = program.command('key').description('signing keys');
  key
    .command('generate')
    .argument('<prefix>', 'writes PREFIX.key (0600, PKCS#8 PEM) and PREFIX.pub (SPKI PEM); never overwrites')
    .description('generate an Ed25519 key pair for signing allowlist manifests')
    .action(
      action(async (prefix: string) => {
        const { generateKeyPair } = await import('../../manifest/keys.js');
        const { privatePath, publicPath } = await generateKeyPair(prefix);
        process.stdout.write(`wrote ${forTerminal(privatePath)} (private, mode 0600) and ${forTerminal(publicPath)}\n`);
        return ExitCode.Pass;
      }),
    );
}
