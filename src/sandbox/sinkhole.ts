import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import { LtrackError, wrapError } from '../core/errors.js';
import { attachOutput, docker } from './docker-client.js';
import { CappedSink } from './output.js';
import { HARNESS_DIR } from './recipe.js';
import { projectPath } from '../core/paths.js';
import { OWNER_LABEL, ownerLabel } from '../core/owner.js';

const run = promisify(execFile);

/** What the sink recorded: a TCP connection (original destination, first bytes) or a DNS query. */
export interface SinkRecord {
  proto: 'tcp' | 'dns';
  /** CLOCK_MONOTONIC ns, the harness's phase clock */
  ts: number;
  /** tcp: where the payload meant to connect */
  dst?: string;
  port?: number;
  /** dns: the first question */
  name?: string;
  qtype?: number;
  /** bytes received (first 4 KiB at most), base64 */
  bytes: string;
  size: number;
}

const SINK_SCRIPT = projectPath('sandbox', 'sink', 'sink.py');
/** sandbox/sink/sink.py listens here (it is told on its command line) inside the shared network namespace. */
const SINK_TCP_PORT = 15001;
const SINK_DNS_PORT = 15053;
const SINK_ARGS = [String(SINK_TCP_PORT), String(SINK_DNS_PORT)];
/** Not the candidate's uid, so the sandbox cannot signal or trace the sink. */
const SINK_UID = 65533;
const READY_MS = 15_000;
/** At most this much of the sink's record stream is kept (records carry 4 KiB of bytes each). */
const RECORDS_CAP = 4 << 20;

export interface Sink {
  /** docker: the container whose network namespace the candidate joins (`NetworkMode: container:<id>`);
   * bwrap: the pid whose namespace the sink was started in. */
  netns: string;
  /** Stops the sink and returns what it recorded. */
  stop(): Promise<SinkRecord[]>;
}

/**
 * The docker driver's sinkhole: a container of the sandbox image running sandbox/sink/sink.py
 * with no network but loopback and no capabilities. The host then routes every address to
 * loopback inside that namespace and redirects new TCP connections and DNS queries to the sink with
 * iptables (from the host, through nsenter: no container ever holds NET_ADMIN, so the candidate,
 * which joins this namespace without capabilities, cannot undo it).
 */
export async function startSinkContainer(tag: string, limits: { memoryBytes: number; pids: number }): Promise<Sink> {
  const out = new CappedSink(RECORDS_CAP);
  const err = new CappedSink(64 << 10);
  let container: Docker.Container | undefined;
  try {
    container = await docker().createContainer({
      Image: tag,
      Cmd: ['python3', '-B', '/ltrack/harness/sink/sink.py', ...SINK_ARGS],
      User: `${SINK_UID}:${SINK_UID}`,
      Labels: { 'dev.ltrack.sink': '1', [OWNER_LABEL]: ownerLabel() },
      AttachStdout: true,
      AttachStderr: true,
      HostConfig: {
        NetworkMode: 'none',
        ReadonlyRootfs: true,
        CapDrop: ['ALL'],
        SecurityOpt: ['no-new-privileges:true'],
        Memory: Math.min(limits.memoryBytes, 256 << 20),
        PidsLimit: Math.min(limits.pids, 512),
        Init: true,
        Binds: [`${HARNESS_DIR}:/ltrack/harness:ro`],
      },
    });
    const c = container;
    const { ended } = await attachOutput(c, out, err);
    await c.start();
    const { State } = await c.inspect();
    await routeToSink(State.Pid);
    await waitReady(out, err);
    return {
      netns: c.id,
      async stop() {
        await c.kill().catch(() => undefined);
        let endTimer: NodeJS.Timeout | undefined;
        await Promise.race([ended, new Promise((r) => (endTimer = setTimeout(r, 2000)))]);
        clearTimeout(endTimer); // else it holds the process at exit
        await c.remove({ force: true }).catch(() => undefined);
        return parseRecords(out.text());
      },
    };
  } catch (e) {
    if (container) await container.remove({ force: true }).catch(() => undefined);
    throw e instanceof LtrackError ? e : wrapError(e, 'sandbox_failed', 'the network sinkhole did not start');
  }
}

/**
 * The bubblewrap driver's sinkhole: bwrap made the sandbox's network namespace (its child is still
 * blocked on the go-handshake); the host routes it to the sink as for docker and starts the sink
 * inside it as its own unprivileged user (setpriv, no capabilities, dies with ltrack).
 */
export async function startSinkInNetns(pid: number): Promise<Sink> {
  await routeToSink(pid);
  const out = new CappedSink(RECORDS_CAP);
  const err = new CappedSink(64 << 10);
  const uid = String(SINK_UID);
  const child = spawn(
    'nsenter',
    [
      `--net=/proc/${pid}/ns/net`,
      'setpriv',
      `--reuid=${uid}`,
      `--regid=${uid}`,
      '--clear-groups',
      '--inh-caps=-all',
      '--bounding-set=-all',
      '--no-new-privs',
      '--pdeathsig=SIGKILL',
      '--',
      '/usr/bin/python3',
      '-I',
      '-B',
      SINK_SCRIPT,
      ...SINK_ARGS,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: {} },
  );
  child.on('error', () => undefined);
  child.stdout.pipe(out);
  child.stderr.pipe(err);
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  try {
    await Promise.race([waitReady(out, err), exited.then(() => Promise.reject(new LtrackError('sandbox_failed', `the network sinkhole exited at start: ${err.text().slice(-300)}`)))]);
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  return {
    netns: String(pid),
    async stop() {
      child.kill('SIGKILL');
      await exited;
      return parseRecords(out.text());
    },
  };
}

/**
 * Every address routes to loopback, and every new TCP connection and DNS query made in the
 * namespace is redirected to the sink. No owner match is needed (nor allowed, in a namespace a
 * bwrap user namespace owns): the sink only accepts and answers, so every new flow there is the
 * sandbox's.
 */
async function routeToSink(pid: number): Promise<void> {
  const inNs = (cmd: string[]) => run('nsenter', [`--net=/proc/${pid}/ns/net`, ...cmd]);
  const redirect = (tool: string) => [
    [tool, '-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '-j', 'REDIRECT', '--to-ports', String(SINK_TCP_PORT)],
    [tool, '-t', 'nat', '-A', 'OUTPUT', '-p', 'udp', '--dport', '53', '-j', 'REDIRECT', '--to-ports', String(SINK_DNS_PORT)],
  ];
  try {
    await inNs(['ip', 'route', 'add', 'default', 'dev', 'lo']);
    for (const cmd of redirect('iptables')) await inNs(cmd);
  } catch (e) {
    throw wrapError(e, 'sandbox_failed', 'cannot route the sandbox network to the sinkhole (needs nsenter, ip and iptables with the nat table)');
  }
  // IPv6 where the kernel has it; without it IPv6 connects fail instead of reaching the sink
  try {
    await inNs(['ip', '-6', 'route', 'add', 'default', 'dev', 'lo']);
    for (const cmd of redirect('ip6tables')) await inNs(cmd);
  } catch {
    /* best effort */
  }
}

async function waitReady(out: CappedSink, err: CappedSink): Promise<void> {
  const deadline = Date.now() + READY_MS;
  while (!out.text().includes('"ready": true')) {
    if (Date.now() > deadline) throw new LtrackError('sandbox_failed', `the network sinkhole never became ready: ${err.text().slice(-300)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function parseRecords(text: string): SinkRecord[] {
  const records: SinkRecord[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const r = JSON.parse(line) as Partial<SinkRecord>;
      if ((r.proto === 'tcp' || r.proto === 'dns') && typeof r.bytes === 'string') records.push(r as SinkRecord);
    } catch {
      /* a line cut by the output cap */
    }
  }
  return records;
}
