import * as core from '@actions/core';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { LtrackError } from '../core/errors.js';
import { ExitCode } from '../core/exit.js';
import type { Report } from '../core/report.js';
import type { TraceEvent } from '../core/event.js';
import { readInputs, type ActionInputs } from './inputs.js';
import { summaryMarkdown } from './summary.js';

/**
 * The GitHub Action (action.yml, `runs.using: node24`, bundled into dist/action/index.js): the same
 * vet as `ltrack vet`, called as a function, with the toolkit's inputs, outputs, log groups,
 * annotations and job summary. The process exits with the CLI's codes (1 block, 2 bad input,
 * 3 incomplete), so a failed step says which.
 */
async function main(): Promise<ExitCode> {
  let inputs: ActionInputs;
  try {
    inputs = readInputs();
  } catch (err) {
    return fail(err, ExitCode.BadInput);
  }
  const staticOnly = inputs.dynamic === 'off' || (await dynamicFallback(inputs));
  if (staticOnly === undefined) return ExitCode.Incomplete;

  const out = resolve(inputs.out);
  let outcome: { report: Report; events: TraceEvent[]; exitCode: ExitCode; manifest?: string };
  try {
    outcome = inputs.hub ? await gateHub(inputs, inputs.hub, staticOnly) : await vetPaths(inputs, staticOnly, out);
  } catch (err) {
    return fail(err, err instanceof LtrackError && (err.code === 'bad_input' || err.code === 'usage') ? ExitCode.BadInput : ExitCode.Incomplete);
  }
  const { report, events, exitCode } = outcome;
  const { writeOutputs } = await import('../report/index.js');
  await writeOutputs(report, out, events);
  // the gate signs what it promotes (its record holds the manifest); a vet's is signed here
  const manifest = inputs.hub ? outcome.manifest : await sign(report, inputs, out);

  core.setOutput('verdict', report.verdict.status);
  core.setOutput('report', join(out, 'report.json'));
  core.setOutput('sarif', join(out, 'report.sarif'));
  core.setOutput('manifest', manifest ?? '');
  annotate(report);
  const runUrl = process.env.GITHUB_RUN_ID ? `${process.env.GITHUB_SERVER_URL ?? 'https://github.com'}/${process.env.GITHUB_REPOSITORY}/actions/runs/${process.env.GITHUB_RUN_ID}` : undefined;
  await core.summary.addRaw(summaryMarkdown(report, { reportArtifact: relative(process.env.GITHUB_WORKSPACE ?? process.cwd(), join(out, 'report.html')), ...(runUrl ? { runUrl } : {}) })).write();

  if (report.verdict.status === 'block')
    core.setFailed(`ltrack: blocked: ${report.findings.filter((f) => f.severity === report.verdict.severity)[0]?.title ?? report.verdict.reasons[0] ?? 'a finding at or above fail-on'}`);
  else if (report.verdict.status === 'incomplete') core.setFailed(`ltrack: incomplete: ${report.verdict.reasons.join('; ')}`);
  return exitCode;
}

const progress = (m: string, tick?: boolean) => {
  if (!tick) core.info(m);
};

async function vetPaths(inputs: ActionInputs, staticOnly: boolean, out: string) {
  const [{ vet }, { keylessAvailable }] = await Promise.all([import('../vet/index.js'), import('../manifest/keyless.js')]);
  await mkdir(out, { recursive: true });
  return core.group(`ltrack vet ${inputs.paths.join(' ')}${staticOnly ? ' (static analysis only)' : ''}`, () =>
    vet({
      paths: inputs.paths,
      staticOnly,
      // as the CLI: read in place when nothing runs and nothing is signed
      readInPlace: staticOnly && !inputs.signKey && !keylessAvailable(),
      sandbox: inputs.sandbox,
      ...(inputs.deps ? { deps: inputs.deps } : {}),
      ...(inputs.wheelhouse ? { wheelhouse: inputs.wheelhouse } : {}),
      network: 'none',
      timeoutSec: 300,
      failOn: inputs.failOn,
      onProgress: progress,
    }),
  );
}

/**
 * A Hugging Face repo (`hub-repo`, e.g. from a Hub webhook relayed as repository_dispatch) goes
 * through the gate as `ltrack gate` takes it: the commit vetted, then promoted into `registry` or
 * quarantined. The report is the gate's (from its record when the commit was gated before).
 */
async function gateHub(inputs: ActionInputs, hub: NonNullable<ActionInputs['hub']>, staticOnly: boolean) {
  const [{ gate }, { parseRepoRef }, { readFile }, { createPrivateKey }] = await Promise.all([
    import('../gate/gate.js'),
    import('../gate/names.js'),
    import('node:fs/promises'),
    import('node:crypto'),
  ]);
  const ref = parseRepoRef(hub.repo);
  const token = process.env.HF_TOKEN;
  if (token) core.setSecret(token);
  const o = await core.group(`ltrack gate ${hub.repo}${staticOnly ? ' (static analysis only)' : ''}`, () =>
    gate({
      source: { kind: 'hub', ...ref, hub: { endpoint: hub.endpoint, ...(token ? { token } : {}) } },
      registry: hub.registry,
      ...(hub.quarantine ? { quarantine: hub.quarantine } : {}),
      ...(inputs.signKey ? { sign: { key: createPrivateKey(inputs.signKey), keyless: false } } : {}),
      vet: { staticOnly, sandbox: inputs.sandbox, network: 'none', timeoutSec: 300, failOn: inputs.failOn, onProgress: progress },
    }),
  );
  core.setOutput('commit', o.commit);
  core.setOutput('snapshot', o.snapshot ?? '');
  if (!o.report && !o.record) throw new LtrackError('sandbox_failed', `${o.repo}@${o.commit}: ${o.status}: ${o.reasons.join('; ')}`);
  const report = o.report ?? (JSON.parse(await readFile(join(hub.registry, o.record!.report), 'utf8')) as Report);
  return { report, events: [], exitCode: o.exitCode, ...(o.record?.manifest ? { manifest: join(hub.registry, o.record.manifest) } : {}) };
}

/**
 * Whether the runner can trace and sandbox. Unable: `dynamic: required` fails the step (undefined,
 * incomplete); `auto` says so in one line and goes on with static analysis (true).
 */
async function dynamicFallback(inputs: ActionInputs): Promise<boolean | undefined> {
  try {
    const [{ loadAddon }, { pickDriver, requireImage }] = await Promise.all([import('../trace/addon.js'), import('../sandbox/index.js')]);
    loadAddon();
    await requireImage(await pickDriver(inputs.sandbox));
    return false;
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    if (inputs.dynamic === 'required') {
      core.setFailed(`ltrack: incomplete: the dynamic vet cannot run on this runner (${why}); set dynamic: auto to fall back to static analysis`);
      return undefined;
    }
    core.warning(`ltrack: dynamic vet unavailable (${why}); static analysis only (dynamic: auto)`);
    return true;
  }
}

/** One annotation per finding, on the model file (relative to the workspace, as GitHub places them). */
function annotate(report: Report): void {
  const workspace = process.env.GITHUB_WORKSPACE ?? process.cwd();
  for (const f of report.findings) {
    const props = { title: `${f.ruleId} ${f.title}`, ...(f.location?.file ? { file: relative(workspace, resolve(f.location.file)) } : {}) };
    const text = `${f.severity} (CVSS ${f.cvss.score.toFixed(1)}): ${f.message}`;
    if (f.severity === 'critical' || f.severity === 'high') core.error(text, props);
    else if (f.severity === 'medium') core.warning(text, props);
    else core.notice(text, props);
  }
}

/** The signed manifest of a passing vet: with the `sign-key` input, or keyless with the job's OIDC token (id-token: write). */
async function sign(report: Report, inputs: ActionInputs, out: string): Promise<string | undefined> {
  if (report.verdict.status !== 'pass') return undefined;
  const { keylessAvailable } = await import('../manifest/keyless.js');
  if (!inputs.signKey && !keylessAvailable()) return undefined;
  const subjects = report.targets.filter((t) => !t.unanalysed).map((t) => t.path);
  if (subjects.length === 0) return undefined;
  const [{ signedManifestFile }, { createPrivateKey }] = await Promise.all([import('../manifest/index.js'), import('node:crypto')]);
  const manifest = await signedManifestFile(report, { files: subjects, ...(inputs.signKey ? { key: createPrivateKey(inputs.signKey) } : {}) });
  await mkdir(out, { recursive: true });
  await writeFile(join(out, manifest.name), manifest.text);
  return join(out, manifest.name);
}

function fail(err: unknown, code: ExitCode): ExitCode {
  const message = err instanceof LtrackError ? `${err.file ? `${err.file}: ` : ''}${err.message}` : err instanceof Error ? err.message : String(err);
  core.setFailed(`ltrack: ${message.split('\n')[0]}`);
  return code;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.exitCode = fail(err, ExitCode.Incomplete);
  },
);
