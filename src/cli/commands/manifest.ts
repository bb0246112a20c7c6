import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { action } from '../run.js';
import { ExitCode } from '../../core/exit.js';
import { wrapError } from '../../core/errors.js';
import { verifyManifest } from '../../manifest/index.js';

interface VerifyFlags {
  key?: string;
  files?: string;
  libraries?: string;
  rulesetDigest?: string;
  allowForced?: boolean;
}

export function registerManifest(program: Command): void {
  const manifest = program.command('manifest').description('signed allowlist manifests');
  manifest
    .command('verify')
    .argument('<manifest>', 'DSSE envelope (manifest.dsse.json)')
    .option('--key <pub>', 'Ed25519 public key (PEM) the manifest must be signed with')
    .option('--files <dir>', 'folder holding the model files: each subject is re-hashed')
    .option('--libraries <root>', 'root the library paths resolve under (the sandbox rootfs): libraries are re-hashed')
    .option('--ruleset-digest <sha256>', 'the digest of the rule set in force; a manifest vetted under other rules is invalid')
    .option('--allow-forced', 'accept a manifest forced for a vet that did not pass')
    .description('verify signature, file digests, rule-set digest and expiry; exit 0 valid, 1 invalid with a one-line reason')
    .action(
      action(async (path: string, flags: VerifyFlags) => {
        const read = (p: string) => readFile(p, 'utf8').catch((err: unknown) => Promise.reject(wrapError(err, 'bad_input', 'cannot read', p)));
        const result = await verifyManifest(await read(path), {
          ...(flags.key ? { publicKeyPem: await read(flags.key) } : {}),
          ...(flags.files ? { filesDir: flags.files } : {}),
          ...(flags.libraries ? { librariesRoot: flags.libraries } : {}),
          ...(flags.rulesetDigest ? { rulesetDigest: flags.rulesetDigest } : {}),
          ...(flags.allowForced ? { allowForced: true } : {}),
        });
        if (!result.ok) {
          process.stderr.write(`ltrack: ${path}: invalid: ${result.reason}\n`);
          return ExitCode.Blocked;
        }
        const p = result.statement.predicate;
        process.stdout.write(`valid: ${result.statement.subject.length} model file(s), verdict ${p.verdict}, expires ${p.expiresAt}\n`);
        return ExitCode.Pass;
      }),
    );
}
