import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { action } from '../run.js';
import { ExitCode } from '../../core/exit.js';
import { LtrackError, wrapError } from '../../core/errors.js';
import { forTerminal } from '../../report/escape.js';

interface VerifyFlags {
  key?: string;
  files?: string[];
  signatureOnly?: boolean;
  libraries?: string;
  rulesetDigest?: string;
  allowForced?: boolean;
}

export function registerManifest(program: Command): void {
  const manifest = program.command('manifest').description('signed allowlist manifests');
  manifest
    .command('verify')
    .argument('<manifest>', 'DSSE envelope (manifest.dsse.json)')
    .option('--key <pub>', 'Ed25519 public key (SPKI PEM, the .pub file) the manifest must be signed with; a private key is refused')
    .option('--files <paths...>', 'the model: its folder (every file below it must be a subject) or its files; each is re-hashed')
    .option('--signature-only', 'check signature, types, expiry and rule set without binding to any model file (says so)')
    .option('--libraries <root>', 'root the library paths resolve under (the sandbox rootfs): libraries are re-hashed')
    .option('--ruleset-digest <sha256>', 'the digest of the rule set in force; a manifest vetted under other rules is invalid')
    .option('--allow-forced', 'accept a manifest forced for a vet that did not pass')
    .description('verify a manifest against a model: signature, the model files (exactly the signed set, each digest), rule-set digest and expiry')
    .addHelpText(
      'after',
      '\nA manifest is only evidence about the model it is checked against: --files is required (the\n' +
        'model folder, or the model files). The folder must hold exactly the signed files: a file added\n' +
        'after signing is named and makes the manifest invalid. --signature-only checks the signature\n' +
        'alone and says so; it never vouches for a model on disk.\n' +
        'Exit codes: 0 valid, 1 invalid (one line naming the reason), 2 bad usage or unreadable input.',
    )
    .action(
      action(async (path: string, flags: VerifyFlags) => {
        if (!flags.key) throw new LtrackError('usage', 'manifest verify needs --key PUB: a signature that is not checked proves nothing');
        if (flags.files && flags.signatureOnly) throw new LtrackError('usage', '--files and --signature-only exclude each other');
        if (!flags.files && !flags.signatureOnly) {
          throw new LtrackError('usage', 'manifest verify needs --files (the model folder or files) to bind the manifest to; --signature-only checks the signature alone');
        }
        const { parsePublicKeyPem, verifyManifest } = await import('../../manifest/index.js');
        const read = (p: string) => readFile(p, 'utf8').catch((err: unknown) => Promise.reject(wrapError(err, 'bad_input', 'cannot read', p)));
        // The key is checked before anything else is read: a private key here is a usage error.
        const publicKey = parsePublicKeyPem(await read(flags.key), flags.key);
        const result = await verifyManifest(await read(path), {
          publicKey,
          ...(flags.files ? { files: flags.files } : { signatureOnly: true }),
          ...(flags.libraries ? { librariesRoot: flags.libraries } : {}),
          ...(flags.rulesetDigest ? { rulesetDigest: flags.rulesetDigest } : {}),
          ...(flags.allowForced ? { allowForced: true } : {}),
        });
        if (!result.ok) {
          process.stderr.write(`ltrack: ${forTerminal(path)}: invalid: ${forTerminal(result.reason)}\n`);
          return ExitCode.Blocked;
        }
        const p = result.statement.predicate;
        const what =
          result.filesChecked > 0
            ? `valid: ${result.filesChecked} model file(s) match, nothing else in the model`
            : `signature valid (signature only: no model file was checked): ${result.statement.subject.length} subject(s)`;
        process.stdout.write(`${what}, verdict ${forTerminal(p.verdict)}, expires ${forTerminal(p.expiresAt)}\n`);
        return ExitCode.Pass;
      }),
    );
}
