import { Command, Option } from 'commander';
import type { KeyObject } from 'node:crypto';
import { writeFile, mkdir, stat } from 'node:fs/promises';
import { basename, join, resolve, sep } from 'node:path';
import { action } from '../run.js';
import { PROGRESS_CHOICES, progressMode, progressPrinter } from '../progress.js';
import { LtrackError } from '../../core/errors.js';
import { ExitCode } from '../../core/exit.js';
import { SEVERITIES, type Severity } from '../../core/severity.js';
import { forTerminal, jsonForTerminal, maskSecrets } from '../../report/escape.js';
import type { Report } from '../../core/report.js';
import type { ReportFormat } from '../../report/index.js';
import type { VetOptions } from '../../vet/index.js';

interface VetFlags {
  staticOnly?: boolean;
  sandbox: 'docker' | 'bwrap' | 'auto';
  deps?: string;
  allowGlobals?: string;
  wheelhouse?: string;
  format: Exclude<ReportFormat, 'html'>;
  out?: string;
  failOn: Severity;
  signKey?: string;
  forceManifest?: boolean;
  network: string;
  timeout: string;
  memory?: string;
  each?: boolean;
  jobs?: string;
  progress: (typeof PROGRESS_CHOICES)[number];
}

export function registerVet(program: Command): void {
  program
    .command('vet')
    .description('vet model files, snapshot folders and a dependency set: static analysis, then a traced sandboxed load')
    .argument('<paths...>', 'model files or folders (Hugging Face snapshots)')
    .option('--static-only', 'static analysis only: no sandbox, no tracer')
    .addOption(new Option('--sandbox <driver>', 'sandbox driver').choices(['docker', 'bwrap', 'auto']).default('auto'))
    .option('--deps <file>', 'pip requirements/lock or conda lock to install in the sandbox')
    .option('--allow-globals <file>', 'TOML [safe] table ("module" = ["name", …]) admitting pickle globals for this vet; its digest is in the report and the manifest')
    .option('--wheelhouse <dir>', 'local folder of wheels/sdists (or a conda channel) the dependencies come from')
    .addOption(new Option('--format <format>', 'what to print on stdout').choices(['text', 'json', 'sarif', 'cef']).default('text'))
    .option('--out <dir>', 'write every output (report.json, report.sarif, report.html, report.cef, events.jsonl, manifest) here')
    .addOption(new Option('--fail-on <severity>', 'block at or above this severity').choices([...SEVERITIES]).default('high'))
    .option('--sign-key <file>', 'Ed25519 private key (PKCS#8 PEM, mode 0600) to sign the allowlist manifest of a passing vet; checked before any analysis')
    .option('--force-manifest', 'write a manifest even when the vet did not pass (it is marked so)')
    .addOption(new Option('--network <mode>', 'sandbox network').choices(['none', 'sinkhole']).default('none'))
    .option('--timeout <seconds>', 'wall-clock limit of the sandboxed run', '300')
    .option('--memory <size>', 'memory limit of the sandbox (e.g. 8g); default 2 GiB plus twice the size of models that cannot be memory-mapped')
    .option('--each', 'each PATH is a candidate of its own, with its own verdict and report (without it, all PATHs are one candidate)')
    .option('--jobs <n>', 'with --each: sandboxes run side by side under one tracer (default: the core count)')
    .addOption(
      new Option(
        '--progress <mode>',
        'progress on stderr: live (one line redrawn), steps (a line per step, after 2 s), all (every update), off; auto: live on a terminal, else steps (LTRACK_PROGRESS=1 means all, 0 off)',
      )
        .choices([...PROGRESS_CHOICES])
        .default('auto'),
    )
    .addHelpText(
      'after',
      '\nExit codes: 0 pass, 1 blocked (a finding at or above --fail-on), 2 bad usage or bad input,\n' +
        '3 incomplete (tracer missing, events dropped, sandbox failed): vetting fails closed.\n' +
        'With --each: 1 if any candidate blocked, else 2 if any was bad input, else 3 if any was incomplete, else 0;\n' +
        '--out DIR gets one folder per candidate (DIR/<n>-<name>).',
    )
    .action(action(runVet));
}

// The analysis, report writers, signer and sandbox load inside the action (dynamic import), so
// registering `vet` costs nothing to `--version`, `--help` or another command.
async function runVet(paths: string[], flags: VetFlags): Promise<ExitCode> {
  const [{ parseMemory }, { keylessAvailable }, { readSigningKey }] = await Promise.all([import('../../sandbox/sizing.js'), import('../../manifest/keyless.js'), import('../../manifest/keys.js')]);
  const timeoutSec = Number(flags.timeout);
  if (!Number.isFinite(timeoutSec) || timeoutSec <= 0) throw new LtrackError('usage', `--timeout must be a positive number of seconds, got ${flags.timeout}`);
  if (flags.jobs !== undefined && !flags.each) throw new LtrackError('usage', '--jobs needs --each (without it all PATHs are one candidate, vetted in one sandbox)');
  const jobs = flags.jobs === undefined ? undefined : Number(flags.jobs);
  if (jobs !== undefined && (!Number.isInteger(jobs) || jobs < 1)) throw new LtrackError('usage', `--jobs must be a positive integer, got ${flags.jobs}`);
  if (flags.forceManifest && !flags.signKey && !keylessAvailable()) throw new LtrackError('usage', '--force-manifest needs --sign-key (or a Sigstore OIDC identity) to sign the manifest');
  if ((flags.signKey || flags.forceManifest) && !flags.out) throw new LtrackError('usage', 'a manifest needs --out DIR to be written to');
  // A bad signing key must cost nothing: it is read and checked before any analysis runs.
  const signKey = flags.signKey ? await readSigningKey(flags.signKey) : undefined;
  const progress = progressPrinter(progressMode(flags.progress, process.stderr.isTTY));
  // SIGINT/SIGTERM abort the vet; it rejects once its sandbox, tracer and copies are released
  const { abortOnSignals } = await import('../signals.js');
  const interrupt = abortOnSignals();
  const staticOnly = flags.staticOnly === true;
  const opts: Omit<VetOptions, 'paths'> = {
    staticOnly,
    // nothing runs and nothing is signed: no private copy needed (an allowlist is signed only over copies)
    readInPlace: staticOnly && !signKey && !flags.forceManifest && !keylessAvailable(),
    sandbox: flags.sandbox,
    ...(flags.deps ? { deps: flags.deps } : {}),
    ...(flags.allowGlobals ? { allowGlobals: flags.allowGlobals } : {}),
    ...(flags.wheelhouse ? { wheelhouse: flags.wheelhouse } : {}),
    network: flags.network === 'sinkhole' ? 'sinkhole' : 'none',
    timeoutSec,
    ...(flags.memory !== undefined ? { memoryBytes: parseMemory(flags.memory) } : {}),
    failOn: flags.failOn,
    onProgress: progress.report,
    signal: interrupt.signal,
  };
  const stoppedBy = (err: unknown): undefined => {
    if (interrupt.exitCode() === undefined) throw err;
    return undefined;
  };
  if (flags.each) {
    const code = await runEach(paths, opts, flags, signKey, jobs)
      .catch(stoppedBy)
      .finally(() => {
        progress.done();
        interrupt.dispose();
      });
    return interrupt.exitCode() ?? code ?? ExitCode.Incomplete;
  }
  const { vet } = await import('../../vet/index.js');
  const outcome = await vet({ ...opts, paths })
    .catch(stoppedBy)
    .finally(() => {
      progress.done();
      interrupt.dispose();
    });
  const stopped = interrupt.exitCode();
  if (stopped !== undefined || outcome === undefined) return stopped ?? ExitCode.Incomplete;
  const { report, events } = outcome;
  if (flags.out) await (await import('../../report/index.js')).writeOutputs(report, flags.out, events);
  await maybeManifest(report, paths, flags, signKey, flags.out);
  await printReport(report, flags.format);
  return outcome.exitCode;
}

/**
 * `vet --each`: every PATH its own candidate (vetMany: one tracer, --jobs sandboxes side by side).
 * Text and CEF are printed per candidate in PATH order as soon as the ones before it are done;
 * JSON is one document listing every candidate; SARIF one log with a run per candidate.
 */
async function runEach(paths: string[], opts: Omit<VetOptions, 'paths'>, flags: VetFlags, signKey: KeyObject | undefined, jobs: number | undefined): Promise<ExitCode> {
  const [{ vetMany }, { exitCodeOf }, { render }] = await Promise.all([import('../../vet/many.js'), import('../run.js'), import('../../report/index.js')]);
  const ready = new Map<number, string>();
  let printed = 0;
  const codes: ExitCode[] = [];
  const reports: ({ paths: string[]; exitCode: ExitCode; report: Report } | { paths: string[]; exitCode: ExitCode; error: { code: string; message: string } })[] = [];
  await vetMany(
    paths.map((p) => [p]),
    opts,
    {
      ...(jobs === undefined ? {} : { jobs }),
      onResult: async (i, r) => {
        const streamed = flags.format === 'text' || flags.format === 'cef';
        const header = flags.format === 'text' ? `== ${forTerminal(paths[i]!)} (${i + 1}/${paths.length})\n` : '';
        if ('error' in r) {
          const code = exitCodeOf(r.error);
          codes[i] = code;
          reports[i] = { paths: r.paths, exitCode: code, error: { code: r.error.code, message: r.error.message } };
          // one line naming the candidate, as a single vet's error is
          process.stderr.write(`ltrack: ${forTerminal(paths[i]!)}: ${forTerminal(r.error.message)}\n`);
          ready.set(i, header ? `${header}ERROR  ${forTerminal(r.error.message)}\n` : '');
        } else {
          const out = flags.out ? join(flags.out, `${i + 1}-${basename(paths[i]!) || 'candidate'}`) : undefined;
          if (out) await (await import('../../report/index.js')).writeOutputs(r.outcome.report, out, r.outcome.events);
          await maybeManifest(r.outcome.report, r.paths, flags, signKey, out);
          codes[i] = r.outcome.exitCode;
          reports[i] = { paths: r.paths, exitCode: r.outcome.exitCode, report: r.outcome.report };
          ready.set(i, streamed ? `${header}${render(r.outcome.report, flags.format, { color: process.stdout.isTTY && !process.env.NO_COLOR })}` : '');
        }
        // in PATH order: print every candidate whose predecessors are all printed
        for (let text = ready.get(printed); text !== undefined; text = ready.get(printed)) {
          process.stdout.write(text);
          ready.delete(printed++);
        }
      },
    },
  );
  if (flags.format === 'json') {
    // each report validated and masked by render, then parsed back into the one document
    const candidates = reports.map((r) => ('report' in r ? { paths: r.paths, exitCode: r.exitCode, report: JSON.parse(render(r.report, 'json')) as unknown } : r));
    process.stdout.write(`${jsonForTerminal(JSON.stringify({ candidates }, null, 2))}\n`);
  } else if (flags.format === 'sarif') {
    const { toSarif } = await import('../../report/sarif.js');
    const logs = reports.flatMap((r) => ('report' in r ? [toSarif(r.report)] : []));
    const log = { ...(logs[0] ?? { version: '2.1.0', $schema: 'https://json.schemastore.org/sarif-2.1.0.json' }), runs: logs.flatMap((l) => l.runs) };
    process.stdout.write(`${jsonForTerminal(maskSecrets(JSON.stringify(log, null, 2)))}\n`);
  }
  if (flags.format === 'text') {
    const count = (c: ExitCode): number => codes.filter((x) => x === c).length;
    process.stdout.write(
      `\n${paths.length} candidates: ${count(ExitCode.Pass)} pass, ${count(ExitCode.Blocked)} block, ${count(ExitCode.Incomplete)} incomplete, ${count(ExitCode.BadInput)} bad input\n`,
    );
  }
  return combinedExit(codes);
}

/** Several candidates' codes as one: any block wins, then bad input, then incomplete. */
export function combinedExit(codes: ExitCode[]): ExitCode {
  for (const c of [ExitCode.Blocked, ExitCode.BadInput, ExitCode.Incomplete]) if (codes.includes(c)) return c;
  return ExitCode.Pass;
}

/** The report on stdout, in the format asked for. */
async function printReport(report: Report, format: VetFlags['format']): Promise<void> {
  const { render } = await import('../../report/index.js');
  process.stdout.write(render(report, format, { color: process.stdout.isTTY && !process.env.NO_COLOR }));
}

/**
 * A passing vet (or any, with --force-manifest) writes manifest.dsse.json into --out: signed with
 * --sign-key, or keylessly with Sigstore where an OIDC identity exists. Without either no manifest
 * is written — an unsigned allowlist would be worth nothing.
 */
async function maybeManifest(report: Report, paths: string[], flags: VetFlags, signKey: KeyObject | undefined, outDir: string | undefined): Promise<void> {
  const { keylessAvailable } = await import('../../manifest/keyless.js');
  if (report.verdict.status !== 'pass' && !flags.forceManifest) return;
  if (!signKey && !keylessAvailable()) return;
  if (!outDir) return; // checked up front when a manifest was asked for
  const { signedManifestFile } = await import('../../manifest/index.js');
  // One vetted folder is the model: subjects are named relative to it, as `manifest verify --files DIR` names them.
  // Unanalysed files are never subjects (verify then names them as outside the manifest).
  const folder = paths.length === 1 && (await stat(paths[0]!)).isDirectory() ? resolve(paths[0]!) : undefined;
  const inside = folder !== undefined && report.targets.every((t) => resolve(t.path).startsWith(folder + sep));
  const root = inside ? { root: folder } : {};
  const manifest = await signedManifestFile(report, {
    files: report.targets.filter((t) => !t.unanalysed).map((t) => t.path),
    ...root,
    forced: flags.forceManifest === true && report.verdict.status !== 'pass',
    ...(signKey ? { key: signKey } : {}),
  });
  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, manifest.name), manifest.text);
}
