import type { Command } from 'commander';
import { readFile, writeFile } from 'node:fs/promises';
import { action } from '../run.js';
import { ExitCode } from '../../core/exit.js';
import { LtrackError, wrapError } from '../../core/errors.js';
import { forTerminal } from '../../report/escape.js';
import type { ActionSink, AgentTelemetry } from '../../agent/types.js';
import type { RuleSet } from '../../rules/ruleset.js';
import type { KeylessIdentity } from '../../manifest/keyless-verify.js';

interface AgentFlags {
  key?: string;
  baselineKey?: string;
  baseline: string[];
  models: string[];
  cgroup?: string;
  container?: string;
  pods?: string;
  node?: string;
  kubeApi?: string;
  kubeSa?: string;
  podsEvery: string;
  pid?: string;
  mode: string;
  events?: string;
  quarantine?: string;
  pin?: string | true;
  landlock?: boolean;
  metrics?: string;
  cef: string[];
  cefCa?: string;
  hec?: string;
  hecTokenFile?: string;
  exportQueue: string;
  allowForced?: boolean;
  certificateIdentity?: string;
  certificateOidcIssuer?: string;
  trustedRoot?: string;
}

interface BaselineFlags {
  out?: string;
  signKey?: string;
  days: string;
}

/** Where `--pin` keeps the programs by default (a bpffs mount; bootstrap mounts /sys/fs/bpf). */
const DEFAULT_PIN = '/sys/fs/bpf/ltrack-agent';
const repeat = (value: string, previous: string[]) => [...previous, value];
const log = (line: string) => process.stderr.write(`${forTerminal(line)}\n`);

/**
 * The words after the `--` that ends ltrack's own arguments: the command to run. Commander hands
 * them to the variadic operand too, so the caller drops them from there.
 */
function commandAfterDashes(): string[] | undefined {
  const at = process.argv.indexOf('--');
  return at === -1 ? undefined : process.argv.slice(at + 1);
}

async function publicKey(path: string) {
  const { parsePublicKeyPem } = await import('../../manifest/index.js');
  const pem = await readFile(path, 'utf8').catch((err: unknown) => Promise.reject(wrapError(err, 'bad_input', 'cannot read', path)));
  return parsePublicKeyPem(pem, path);
}

/** The identity keyless manifests must carry, and the trusted root to check it against. */
async function keylessIdentity(flags: AgentFlags): Promise<KeylessIdentity> {
  const file = flags.trustedRoot!;
  const text = await readFile(file, 'utf8').catch((err: unknown) => Promise.reject(wrapError(err, 'bad_input', 'cannot read the trusted root', file)));
  let trustedRoot: unknown;
  try {
    trustedRoot = JSON.parse(text);
  } catch {
    throw new LtrackError('bad_input', 'the trusted root is not JSON', { file });
  }
  return { trustedRoot, identity: flags.certificateIdentity!, issuer: flags.certificateOidcIssuer! };
}

const CEF_SEVERITY = { info: 1, low: 3, medium: 5, high: 8, critical: 10 } as const;

/** The --cef and --hec sinks, reporting to the metrics; checked before anything attaches. */
async function exporters(flags: AgentFlags, rules: RuleSet, telemetry: AgentTelemetry | undefined): Promise<ActionSink[]> {
  const capacity = Number(flags.exportQueue);
  if (!Number.isInteger(capacity) || capacity < 1 || capacity > 1_000_000)
    throw new LtrackError('usage', `--export-queue must be a whole number from 1 to 1000000, not ${JSON.stringify(flags.exportQueue)}`);
  if ((flags.hec === undefined) !== (flags.hecTokenFile === undefined)) throw new LtrackError('usage', '--hec and --hec-token-file go together');
  if (flags.cef.length === 0 && flags.hec === undefined) return [];
  const { cefSyslogSink, hecSink } = await import('../../agent/exporters.js');
  const severities = new Map(rules.rules.map((r) => [r.id, CEF_SEVERITY[r.severity]]));
  const report = (name: string, s: { queued: number; sent: number; failures: number; dropped: number }) => telemetry?.exporter(name, s);
  const ca = flags.cefCa === undefined ? undefined : await readFile(flags.cefCa).catch((err: unknown) => Promise.reject(wrapError(err, 'bad_input', 'cannot read the CA bundle', flags.cefCa)));
  const sinks: ActionSink[] = flags.cef.map((target) => cefSyslogSink(target, { severity: (id) => severities.get(id) ?? 5, capacity, report, ...(ca ? { ca } : {}) }));
  if (flags.hec !== undefined && flags.hecTokenFile !== undefined) {
    const file = flags.hecTokenFile;
    const token = (await readFile(file, 'utf8').catch((err: unknown) => Promise.reject(wrapError(err, 'bad_input', 'cannot read the HEC token', file)))).trim();
    if (token === '' || /\s/.test(token)) throw new LtrackError('bad_input', 'the HEC token file must hold one token', { file });
    sinks.push(hecSink(flags.hec, token, { capacity, report, log }));
  }
  return sinks;
}

export function registerAgent(program: Command): void {
  const agent = program
    .command('agent')
    .description('production agent: hold a serving process to its signed allowlists, from the kernel')
    .argument('[manifest...]', 'signed vet manifests (manifest.dsse.json); each needs its --models folder')
    .option('--key <pub>', 'Ed25519 public key (SPKI PEM) the manifests are signed with')
    .option('--models <dir>', 'the model folder a manifest describes (repeat, in manifest order): re-hashed against its subjects before anything attaches', repeat, [])
    .option('--baseline <file>', "signed environment baseline of the serving stack (repeat); from 'ltrack agent baseline'", repeat, [])
    .option('--baseline-key <pub>', 'public key the baselines are signed with (default: --key)')
    .option('--cgroup <path>', 'hold every process of this cgroup v2 folder, including ones started later')
    .option('--container <id>', 'hold a running Docker container (its cgroup, resolved through the Docker API)')
    .option(
      '--pods <selector>',
      "hold this node's Running pods matching a label selector (e.g. app=model-server), found through the Kubernetes API with the pod's service account; new pods are picked up",
    )
    .option('--node <name>', 'with --pods: this node (default $NODE_NAME, from the downward API)')
    .option('--kube-api <url>', 'with --pods: the API server (default https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT)')
    .option('--kube-sa <dir>', 'with --pods: the service account folder holding token and ca.crt', '/var/run/secrets/kubernetes.io/serviceaccount')
    .option('--pods-every <seconds>', 'with --pods: how often the pods are listed again', '5')
    .option('--pid <pid>', 'hold this process and its descendants')
    .option('--mode <mode>', 'enforce (kill, deny) or observe (report what enforce would do, act on nothing)', 'enforce')
    .option(
      '--quarantine <dir>',
      'where a model file that changed after verification is moved (mode 000, with a JSON note); without it the file stays and any process of the target opening it is killed',
    )
    .option(
      '--landlock',
      "with -- CMD under enforce: confine the command with Landlock to the allowlists' reads and programs before it runs (the kernel refuses, EACCES, instead of the agent killing after the fact)",
    )
    .option('--pin [dir]', `pin the programs in bpffs (default ${DEFAULT_PIN}): they keep enforcing after the agent exits or dies, and an agent started again with --pin adopts them`)
    .option('--metrics <addr:port>', 'serve Prometheus metrics at http://ADDR:PORT/metrics and a liveness probe at /healthz')
    .option('--cef <target>', 'send each action as CEF over syslog (RFC 5424): udp://HOST:PORT, tcp://HOST:PORT or tls://HOST:PORT (repeat for several)', repeat, [])
    .option('--cef-ca <file>', "with --cef tls://…: the CA bundle (PEM) the receiver's certificate must chain to (default: the system's)")
    .option('--hec <url>', 'send actions to a Splunk HTTP Event Collector at this base URL (batched, gzip, retried)')
    .option('--hec-token-file <file>', 'file holding the HEC token (never logged)')
    .option('--export-queue <n>', 'actions each exporter keeps while its receiver is down; beyond, the oldest are dropped and counted', '10000')
    .option('--events <file>', "one JSON line per action, appended to FILE ('-' for stdout)")
    .option('--allow-forced', 'accept manifests forced for a vet that did not pass')
    .option('--certificate-identity <id>', 'keyless (Sigstore bundle) manifests: the certificate subject that must have signed them (an e-mail, or a workflow URI)')
    .option('--certificate-oidc-issuer <url>', 'keyless manifests: the OIDC issuer that must have vouched for the signer')
    .option('--trusted-root <file>', 'keyless manifests: the Sigstore trusted root (JSON: Fulcio CAs, Rekor and CT log keys), e.g. from `cosign trusted-root` or your private Sigstore')
    .addHelpText(
      'after',
      '\nTargets: --cgroup PATH, --container ID, --pods SELECTOR, --pid PID, or -- CMD [ARGS...] (started held, confined from its first instruction).\n' +
        'Every manifest and baseline is verified before anything attaches (signature, expiry, the rule set\n' +
        'in force, forced manifests, the model files); any failure is one line naming the file, exit 1.\n' +
        'SIGHUP re-verifies and reloads; SIGINT/SIGTERM detach (a command the agent started gets the signal first).\n' +
        'Exit codes: 0 stopped cleanly, 1 an allowlist refused, 2 bad usage, 3 the tracer cannot run here;\n' +
        "with -- CMD, the command's own exit status.",
    )
    .action(
      action(async (given: string[], flags: AgentFlags) => {
        const command = commandAfterDashes();
        const manifests = command ? given.slice(0, given.length - command.length) : given;
        const keylessFlags = [flags.certificateIdentity, flags.certificateOidcIssuer, flags.trustedRoot].filter((f) => f !== undefined).length;
        if (keylessFlags !== 0 && keylessFlags !== 3) throw new LtrackError('usage', 'keyless manifests need --certificate-identity, --certificate-oidc-issuer and --trusted-root together');
        const keyless = keylessFlags === 3;
        if (flags.mode !== 'enforce' && flags.mode !== 'observe') throw new LtrackError('usage', `--mode must be enforce or observe, not ${JSON.stringify(flags.mode)}`);
        if (manifests.length === 0 && flags.baseline.length === 0) throw new LtrackError('usage', 'agent needs at least one manifest or --baseline to enforce');
        if (manifests.length > 0 && !flags.key && !keyless) throw new LtrackError('usage', 'agent needs --key PUB (or the keyless identity): a signature that is not checked proves nothing');
        if (flags.baseline.length > 0 && !flags.key && !flags.baselineKey) throw new LtrackError('usage', 'agent needs --baseline-key (or --key) to verify the baselines');
        if (flags.models.length !== manifests.length) {
          throw new LtrackError('usage', `each manifest needs its model folder: ${manifests.length} manifest(s), ${flags.models.length} --models`);
        }
        const targets = [flags.cgroup !== undefined, flags.container !== undefined, flags.pods !== undefined, flags.pid !== undefined, command !== undefined].filter(Boolean).length;
        if (targets !== 1) throw new LtrackError('usage', 'give exactly one target: --cgroup PATH, --container ID, --pods SELECTOR, --pid PID or -- CMD');
        const podsEvery = Number(flags.podsEvery);
        if (!(podsEvery >= 0.1 && podsEvery <= 3600)) throw new LtrackError('usage', `--pods-every must be between 0.1 and 3600 seconds, not ${JSON.stringify(flags.podsEvery)}`);
        if (command?.length === 0) throw new LtrackError('usage', 'nothing to run after --');
        const pid = flags.pid === undefined ? undefined : Number(flags.pid);
        if (pid !== undefined && (!Number.isInteger(pid) || pid <= 0)) throw new LtrackError('usage', `--pid must be a process id, not ${JSON.stringify(flags.pid)}`);

        const manifestKey = flags.key ? await publicKey(flags.key) : undefined;
        const baselineKey = flags.baselineKey ? await publicKey(flags.baselineKey) : manifestKey;
        const { loadRuleSet } = await import('../../rules/index.js');
        const rules = await loadRuleSet();
        const { runAgent } = await import('../../agent/run.js');
        const { jsonLinesSink, makeOutputs } = await import('../../agent/outputs.js');
        const metrics = flags.metrics !== undefined ? new (await import('../../agent/metrics.js')).AgentMetrics() : undefined;
        const sinks = [...(flags.events ? [jsonLinesSink(flags.events)] : []), ...(await exporters(flags, rules, metrics))];
        const outputs = makeOutputs(sinks, metrics);
        try {
          return await runAgent({
            files: {
              manifests: manifests.map((path, i) => ({ path, models: flags.models[i]! })),
              baselines: flags.baseline,
              ...(manifestKey ? { manifestKey } : {}),
              ...(baselineKey ? { baselineKey } : {}),
              ...(keyless ? { keyless: await keylessIdentity(flags) } : {}),
              rulesetDigest: rules.digest,
              allowForced: flags.allowForced === true,
            },
            mode: flags.mode,
            rules,
            ...(flags.quarantine ? { quarantine: flags.quarantine } : {}),
            ...(metrics && flags.metrics !== undefined ? { metrics: { listen: flags.metrics, metrics } } : {}),
            ...(flags.landlock ? { landlock: true } : {}),
            ...(flags.pin !== undefined ? { pin: flags.pin === true ? DEFAULT_PIN : flags.pin } : {}),
            target: command
              ? { command }
              : pid !== undefined
                ? { pid }
                : flags.container !== undefined
                  ? { container: flags.container }
                  : flags.pods !== undefined
                    ? { pods: (await import('../../agent/pods.js')).inClusterSelection(flags.pods, flags.node, flags.kubeApi, flags.kubeSa), everyMs: podsEvery * 1000 }
                    : { cgroup: flags.cgroup! },
            outputs,
            log,
          });
        } finally {
          await outputs.close();
        }
      }),
    );

  agent
    .command('baseline')
    .description("record the serving stack's own behaviour during a warm-up run, signed: -- CMD [ARGS...]")
    .option('--out <file>', 'where to write the signed baseline (DSSE envelope)')
    .option('--sign-key <file>', "the operator's Ed25519 private key (PKCS#8 PEM, mode 0600)")
    .option('--days <n>', 'validity in days', '30')
    .allowExcessArguments()
    .addHelpText(
      'after',
      '\nRuns CMD (the server without the model, or with a known-good one) under an observing trace until it\n' +
        'exits or SIGINT, then signs every program it executed, every library it mapped executable (hashed on\n' +
        'this host), every peer it contacted and the folders it read. Exit 0 written; 2 bad usage or a failed\n' +
        'warm-up; 3 the trace could not see everything (nothing is written).',
    )
    .action(
      action(async (flags: BaselineFlags) => {
        const command = commandAfterDashes();
        if (!command || command.length === 0) throw new LtrackError('usage', 'agent baseline needs the warm-up command after --');
        if (!flags.out || !flags.signKey) throw new LtrackError('usage', 'agent baseline needs --out FILE and --sign-key KEY');
        const days = Number(flags.days);
        if (!Number.isInteger(days) || days < 1 || days > 366) throw new LtrackError('usage', `--days must be a whole number from 1 to 366, not ${JSON.stringify(flags.days)}`);
        const { readSigningKey } = await import('../../manifest/index.js');
        const key = await readSigningKey(flags.signKey);
        const { recordWarmup } = await import('../../agent/record.js');
        const { signBaseline } = await import('../../agent/baseline.js');
        const { statement, skipped } = await recordWarmup(command, days, log);
        for (const s of skipped) log(`ltrack agent baseline: left out ${s.path}: ${s.reason}`);
        await writeFile(flags.out, JSON.stringify(signBaseline(statement, key), null, 2) + '\n', { mode: 0o644 }).catch((err: unknown) =>
          Promise.reject(wrapError(err, 'bad_input', 'cannot write', flags.out)),
        );
        const a = statement.predicate.allow;
        process.stdout.write(
          `baseline written: ${a.exec.length} program(s), ${a.libraries.length} librar${a.libraries.length === 1 ? 'y' : 'ies'}, ${a.network.length} peer(s), ${a.reads.length} read prefix(es); expires ${statement.predicate.expiresAt}\n`,
        );
        return ExitCode.Pass;
      }),
    );
}
