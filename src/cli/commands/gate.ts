import { Command, Option } from 'commander';
import { stat } from 'node:fs/promises';
import { action } from '../run.js';
import { PROGRESS_CHOICES, progressMode, progressPrinter } from '../progress.js';
import { LtrackError } from '../../core/errors.js';
import { ExitCode } from '../../core/exit.js';
import { SEVERITIES, type Severity } from '../../core/severity.js';
import { forTerminal, jsonForTerminal } from '../../report/escape.js';
import type { GateOutcome, GateSource } from '../../gate/gate.js';
import type { VetOptions } from '../../vet/index.js';

interface GateFlags {
  to?: string;
  quarantine?: string;
  signKey?: string;
  endpoint?: string;
  allowPatterns?: string[];
  repo?: string;
  revision?: string;
  staticOnly?: boolean;
  sandbox: 'docker' | 'bwrap' | 'auto';
  format: 'text' | 'json';
  failOn: Severity;
  network: string;
  timeout: string;
  memory?: string;
  allowGlobals?: string;
  progress: (typeof PROGRESS_CHOICES)[number];
}

interface ServeFlags extends Omit<GateFlags, 'to' | 'endpoint' | 'repo' | 'revision' | 'format' | 'progress'> {
  listen: string;
  upstream?: string;
  registry?: string;
  queue: string;
}

/** The public Hub, unless the environment names another (as the Hub's own clients read it). */
export function defaultEndpoint(): string {
  return process.env.HF_ENDPOINT || 'https://huggingface.co';
}

/** The vet options the gate's commands share with `ltrack vet` (same names, same defaults). */
function vetOptions(cmd: Command): Command {
  return cmd
    .option('--static-only', 'static analysis only: no sandbox, no tracer')
    .addOption(new Option('--sandbox <driver>', 'sandbox driver').choices(['docker', 'bwrap', 'auto']).default('auto'))
    .addOption(new Option('--fail-on <severity>', 'block at or above this severity').choices([...SEVERITIES]).default('high'))
    .addOption(new Option('--network <mode>', 'sandbox network').choices(['none', 'sinkhole']).default('none'))
    .option('--timeout <seconds>', 'wall-clock limit of the sandboxed run', '300')
    .option('--memory <size>', 'memory limit of the sandbox (e.g. 8g)')
    .option('--allow-globals <file>', 'TOML [safe] table admitting pickle globals (its digest is part of the rule-set digest verdicts are kept under)')
    .option('--sign-key <file>', 'Ed25519 private key (PKCS#8 PEM, mode 0600) signing the manifest of a promoted commit (default: a Sigstore identity when there is one)')
    .option('--quarantine <dir>', 'where a blocked snapshot goes, with its report (default: nowhere; the registry records the verdict)')
    .option('--allow-patterns <glob...>', "only files matching these globs are fetched, vetted and promoted (as the Hub clients' allow_patterns)");
}

async function vetBase(flags: Omit<GateFlags, 'format' | 'progress' | 'to'>, onProgress: VetOptions['onProgress']): Promise<Omit<VetOptions, 'paths'>> {
  const timeoutSec = Number(flags.timeout);
  if (!Number.isFinite(timeoutSec) || timeoutSec <= 0) throw new LtrackError('usage', `--timeout must be a positive number of seconds, got ${flags.timeout}`);
  const { parseMemory } = await import('../../sandbox/sizing.js');
  return {
    staticOnly: flags.staticOnly === true,
    sandbox: flags.sandbox,
    network: flags.network === 'sinkhole' ? 'sinkhole' : 'none',
    timeoutSec,
    ...(flags.memory !== undefined ? { memoryBytes: parseMemory(flags.memory) } : {}),
    ...(flags.allowGlobals ? { allowGlobals: flags.allowGlobals } : {}),
    failOn: flags.failOn,
    onProgress,
  };
}

async function signing(flags: { signKey?: string }) {
  const [{ readSigningKey }, { keylessAvailable }] = await Promise.all([import('../../manifest/keys.js'), import('../../manifest/keyless.js')]);
  // a bad key costs nothing: read and checked before anything is fetched
  return { ...(flags.signKey ? { key: await readSigningKey(flags.signKey) } : {}), keyless: !flags.signKey && keylessAvailable() };
}

export function registerGate(program: Command): void {
  const gateCmd = vetOptions(
    program
      .command('gate')
      .description('gate a Hugging Face model before promotion: vet the exact commit production will load, then promote it into a registry (HF cache layout) or quarantine it')
      .argument('[source]', 'REPO_ID[@REVISION] on the Hub, or a snapshot folder (an HF cache snapshot or a plain folder)')
      .option('--to <dir>', 'the registry: promoted commits land here in the Hugging Face cache layout (HF_HUB_CACHE=DIR HF_HUB_OFFLINE=1 loads them)')
      .option('--endpoint <url>', 'the Hub (default $HF_ENDPOINT or https://huggingface.co); $HF_TOKEN is sent to it for gated or private repos')
      .option('--repo <id>', 'for a plain folder: the repo id it is promoted as (default local/<folder name>)')
      .option('--revision <rev>', 'for a folder: the ref (refs/REV) that names its commit in the registry'),
  )
    .addOption(new Option('--format <format>', 'what to print on stdout').choices(['text', 'json']).default('text'))
    .addOption(new Option('--progress <mode>', 'progress on stderr (as ltrack vet)').choices([...PROGRESS_CHOICES]).default('auto'))
    .addHelpText(
      'after',
      '\nExit codes: 0 promoted (or promoted before), 1 blocked (quarantined), 2 bad usage or bad input,\n' +
        '3 incomplete (the Hub unreachable, the sandbox or tracer failed): nothing promoted, nothing recorded.\n' +
        'A verdict is kept per (repo, commit, rule-set digest, ltrack version): gating the same commit again is instant.',
    )
    .action(action(runGate))
    // `gate serve` has options of the same names: the ones after `serve` are its own
    .enablePositionalOptions();

  vetOptions(
    gateCmd
      .command('serve')
      .description('a Hub-compatible gating proxy: HF_ENDPOINT=http://ADDR:PORT in front of huggingface_hub, transformers or @huggingface/hub')
      .requiredOption('--listen <addr:port>', 'where to listen (e.g. 127.0.0.1:8080)')
      .option('--upstream <url>', 'the Hub behind the proxy (default $HF_ENDPOINT or https://huggingface.co)')
      .option('--registry <dir>', 'the registry promoted commits are served from')
      .option('--queue <n>', 'commits waiting to be vetted at most; past it clients get 503 with Retry-After', '16'),
  ).action(action(runServe));
}

async function runGate(source: string | undefined, flags: GateFlags): Promise<ExitCode> {
  if (!source) throw new LtrackError('usage', 'ltrack gate needs a REPO_ID[@REVISION] or a snapshot folder');
  if (!flags.to) throw new LtrackError('usage', 'ltrack gate needs --to REGISTRY_DIR');
  const sign = await signing(flags);
  const progress = progressPrinter(progressMode(flags.progress, process.stderr.isTTY));
  const isFolder = await stat(source).then(
    (s) => s.isDirectory(),
    () => false,
  );
  let gateSource: GateSource;
  if (isFolder) gateSource = { kind: 'folder', path: source, ...(flags.repo ? { repo: flags.repo } : {}), ...(flags.revision ? { revision: flags.revision } : {}) };
  else {
    if (flags.repo || flags.revision) throw new LtrackError('usage', '--repo and --revision are for a folder; a Hub source is REPO_ID@REVISION');
    const { parseRepoRef } = await import('../../gate/names.js');
    const token = process.env.HF_TOKEN;
    gateSource = { kind: 'hub', ...parseRepoRef(source), hub: { endpoint: flags.endpoint ?? defaultEndpoint(), ...(token ? { token } : {}) } };
  }
  const { abortOnSignals } = await import('../signals.js');
  const interrupt = abortOnSignals();
  const { gate } = await import('../../gate/gate.js');
  const outcome = await gate({
    source: gateSource,
    registry: flags.to,
    ...(flags.quarantine ? { quarantine: flags.quarantine } : {}),
    ...(flags.allowPatterns ? { allowPatterns: flags.allowPatterns } : {}),
    sign,
    vet: { ...(await vetBase(flags, progress.report)), signal: interrupt.signal },
  })
    .catch((err: unknown) => {
      if (interrupt.exitCode() === undefined) throw err;
      return undefined;
    })
    .finally(() => {
      progress.done();
      interrupt.dispose();
    });
  if (!outcome) return interrupt.exitCode() ?? ExitCode.Incomplete;
  process.stdout.write(flags.format === 'json' ? `${jsonForTerminal(JSON.stringify(outcome, null, 2))}\n` : describe(outcome));
  return outcome.exitCode;
}

/** The text summary: verdict, repo and commit, where it went, and why. */
export function describe(o: GateOutcome): string {
  const what = `${o.repo}${o.revision ? `@${o.revision}` : ''} (commit ${o.commit})`;
  const cached = o.cached ? ', as gated before' : '';
  const lines =
    o.status === 'pass'
      ? [`PASS  ${what}: promoted to ${o.snapshot}${cached}`]
      : o.status === 'block'
        ? [`BLOCK  ${what}${cached}${o.quarantined ? `: quarantined in ${o.quarantined}` : ''}`, ...o.reasons.map((r) => `  ${r}`)]
        : [`INCOMPLETE  ${what}: nothing promoted`, ...o.reasons.map((r) => `  ${r}`)];
  return `${lines.map(forTerminal).join('\n')}\n`;
}

async function runServe(flags: ServeFlags): Promise<ExitCode> {
  if (!flags.registry) throw new LtrackError('usage', 'ltrack gate serve needs --registry DIR');
  const queue = Number(flags.queue);
  if (!Number.isInteger(queue) || queue < 1) throw new LtrackError('usage', `--queue must be a positive integer, got ${flags.queue}`);
  const m = /^(.*):(\d+)$/.exec(flags.listen);
  if (!m) throw new LtrackError('usage', `--listen must be ADDR:PORT, got ${flags.listen}`);
  const sign = await signing(flags);
  const log = (line: string) => process.stderr.write(`${forTerminal(line)}\n`);
  const { serveGate } = await import('../../gate/serve.js');
  const server = await serveGate({
    listen: { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) },
    upstream: flags.upstream ?? defaultEndpoint(),
    registry: flags.registry,
    ...(flags.quarantine ? { quarantine: flags.quarantine } : {}),
    ...(flags.allowPatterns ? { allowPatterns: flags.allowPatterns } : {}),
    sign,
    queue,
    vet: await vetBase(flags, () => undefined),
    log,
  });
  log(`ltrack gate serve: listening on ${server.url}, upstream ${flags.upstream ?? defaultEndpoint()}`);
  await new Promise<void>((resolve) => {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => resolve());
  });
  await server.close();
  return ExitCode.Pass;
}
