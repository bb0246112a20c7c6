import { Command, Option } from 'commander';
import { action, notBuilt } from '../run.js';
import { SEVERITIES } from '../../core/severity.js';

export function registerVet(program: Command): void {
  program
    .command('vet')
    .description('vet model files, snapshot folders and a dependency set: static analysis, then a traced sandboxed load')
    .argument('<paths...>', 'model files or folders (Hugging Face snapshots)')
    .option('--static-only', 'static analysis only: no sandbox, no tracer')
    .addOption(new Option('--sandbox <driver>', 'sandbox driver').choices(['docker', 'bwrap', 'auto']).default('auto'))
    .option('--deps <file>', 'pip requirements/lock or conda lock to install in the sandbox')
    .option('--wheelhouse <dir>', 'local folder of wheels/sdists (or a conda channel) the dependencies come from')
    .addOption(new Option('--format <format>', 'what to print on stdout').choices(['text', 'json', 'sarif', 'cef']).default('text'))
    .option('--out <dir>', 'write every output (report.json, report.sarif, report.html, events.jsonl, manifest) here')
    .addOption(new Option('--fail-on <severity>', 'block at or above this severity').choices([...SEVERITIES]).default('high'))
    .option('--sign-key <file>', 'Ed25519 private key to sign the allowlist manifest of a passing vet')
    .option('--force-manifest', 'write a manifest even when the vet did not pass (it is marked so)')
    .option('--network <mode>', 'none (default) or sinkhole', 'none')
    .option('--timeout <seconds>', 'wall-clock limit of each sandbox phase', '120')
    .addHelpText(
      'after',
      '\nExit codes: 0 pass, 1 blocked (a finding at or above --fail-on), 2 bad usage or bad input,\n' +
        '3 incomplete (tracer missing, events dropped, sandbox failed): vetting fails closed.',
    )
    .action(action(() => notBuilt('ltrack vet', 'issues 6 and 8')));
}
