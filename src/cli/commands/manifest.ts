import type { Command } from 'commander';
import { action, notBuilt } from '../run.js';

export function registerManifest(program: Command): void {
  const manifest = program.command('manifest').description('signed allowlist manifests');
  manifest
    .command('verify')
    .argument('<manifest>')
    .option('--key <pub>', 'Ed25519 public key (PEM)')
    .option('--files <dir>', 'folder holding the model files to check against the subjects')
    .description('verify signature, file digests, rule-set digest and expiry; exit 0 valid, 1 invalid')
    .action(action(() => notBuilt('ltrack manifest verify', 'issue 7')));
}
