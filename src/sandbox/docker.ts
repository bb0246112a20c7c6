import { stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type Docker from 'dockerode';
import { LtrackError, wrapError } from '../core/errors.js';
import { SANDBOX_LAYOUT } from '../core/sandbox-layout.js';
import { attachOutput, docker } from './docker-client.js';
import { requireImage } from './image.js';
import { resolveLimits } from './limits.js';
import { CappedSink } from './output.js';
import { collectResult } from './result.js';
import { dockerPidsCgroup, watchPidsLimitHits } from './cgroup.js';
import { DECOY_ENV } from './decoys.js';
import { MOUNTS, candidateMounts, decoyIdentities, followPhases, harnessPlan, makeRunDir, type RunPlan, type SandboxHooks, type SandboxResult } from './plan.js';
import { HARNESS_DIR } from './recipe.js';
import { startSinkContainer, type Sink } from './sinkhole.js';

/**
 * The first process is a shell that reads one line and only then execs the harness: nothing of
 * ours runs until the host has attached the tracer and said "go", so the interpreter's start-up
 * is observed too. Anything else on stdin (the host gave up) ends the run before it starts.
 */
const GATE = 'read -r go && [ "$go" = go ] && exec python3 -B -s /ltrack/harness/harness.py';

/** Where runc puts every container in the cgroup v2 tree here; the folder's inode is its cgroup id. */
const CGROUP2_DOCKER = '/sys/fs/cgroup/unified/docker';

export async function runDocker(plan: RunPlan, hooks: SandboxHooks): Promise<SandboxResult> {
  const { tag } = await requireImage('docker');
  const limits = resolveLimits(plan.limits);
  const run = await makeRunDir();
  const stdout = new CappedSink(limits.outputBytes);
  const stderr = new CappedSink(limits.outputBytes);
  let container: Docker.Container | undefined;
  let sink: Sink | undefined;
  let following: ReturnType<typeof followPhases>;
  let pidsWatch: ReturnType<typeof watchPidsLimitHits> | undefined;
  try {
    // --network sinkhole: the candidate joins the network namespace of a sink of ours
    if (plan.network === 'sinkhole') sink = await startSinkContainer(tag, limits);
    const harness = harnessPlan(plan, run, 'block');
    const binds = [
      `${HARNESS_DIR}:${MOUNTS.harness}:ro`,
      `${run.out}:${MOUNTS.out}:rw`,
    ];
    // The candidate's paths are the user's names: structured mounts, because a `:` or `,` in a
    // string-built volume spec splits it into other fields.
    const userMounts: Docker.MountSettings[] = [
      ...run.decoys.map((d) => readOnlyBind(d.hostPath, d.path)),
      ...candidateMounts(plan.models).map((m) => readOnlyBind(m.hostPath, m.path)),
      ...(plan.deps ? [readOnlyBind(resolve(plan.deps.hostPath), `${SANDBOX_LAYOUT.deps}/${basename(plan.deps.hostPath)}`)] : []),
      ...(plan.wheelhouse ? [readOnlyBind(resolve(plan.wheelhouse), SANDBOX_LAYOUT.wheelhouse)] : []),
    ];
    const c = await docker()
      .createContainer({
        Image: tag,
        Cmd: ['/bin/sh', '-c', GATE],
        User: `${SANDBOX_LAYOUT.uid}:${SANDBOX_LAYOUT.gid}`,
        WorkingDir: SANDBOX_LAYOUT.home,
        Env: [
          `HOME=${SANDBOX_LAYOUT.home}`,
          'PATH=/usr/local/bin:/usr/bin:/bin',
          'PYTHONDONTWRITEBYTECODE=1',
          'LANG=C.UTF-8',
          `LTRACK_PLAN=${JSON.stringify(harness)}`,
          ...Object.entries(DECOY_ENV).map(([k, v]) => `${k}=${v}`),
        ],
        Labels: { 'dev.ltrack.run': run.root },
        OpenStdin: true,
        StdinOnce: true,
        AttachStdin: true,
        AttachStdout: true,
        AttachStderr: true,
        Tty: false,
        NetworkDisabled: sink === undefined,
        HostConfig: {
          NetworkMode: sink ? `container:${sink.netns}` : 'none',
          ReadonlyRootfs: true,
          CapDrop: ['ALL'],
          SecurityOpt: ['no-new-privileges:true'],
          Memory: limits.memoryBytes,
          MemorySwap: limits.memoryBytes,
          PidsLimit: limits.pids,
          NanoCpus: Math.round(limits.cpus * 1e9),
          // An init as PID 1 reaps and forwards signals; without it the harness would be PID 1 and ignore TERM.
          Init: true,
          // exec: native extensions of installed dependencies must map from the install prefix.
          Tmpfs: {
            '/tmp': `rw,exec,nosuid,nodev,size=${limits.tmpBytes}`,
            [SANDBOX_LAYOUT.home]: `rw,nosuid,nodev,size=${limits.homeBytes},uid=${SANDBOX_LAYOUT.uid},gid=${SANDBOX_LAYOUT.gid},mode=0700`,
          },
          Binds: binds,
          Mounts: userMounts,
        },
      })
      .catch((err: unknown) => Promise.reject(wrapError(err, 'sandbox_failed', 'docker could not create the sandbox container')));
    container = c;

    const { stream, ended: streamEnded } = await attachOutput(c, stdout, stderr, { stdin: true });
    await c.start();
    const info = await c.inspect();
    pidsWatch = watchPidsLimitHits(dockerPidsCgroup(info.Id));
    const cgroupId = await stat(join(CGROUP2_DOCKER, info.Id)).then(
      (s) => s.ino,
      () => undefined,
    );
    await hooks.onReady?.({ pid: info.State.Pid, ...(cgroupId === undefined ? {} : { cgroupId }) });
    stream.write('go\n');
    following = followPhases(run.out, hooks);

    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      void c.kill().catch(() => undefined); // a killed client would leave it running: kill it ourselves
    }, plan.timeoutSec * 1000);
    let exit: { StatusCode: number };
    try {
      exit = (await c.wait()) as { StatusCode: number };
    } finally {
      clearTimeout(timer);
    }
    await Promise.race([streamEnded, new Promise((r) => setTimeout(r, 2000))]);
    const after = await c.inspect();
    const pidsLimitHits = await pidsWatch.stop();
    pidsWatch = undefined;
    await following?.stop();
    following = undefined;
    const result = await collectResult('docker', run.out, { stdout, stderr }, { exitCode: exit.StatusCode, oomKilled: after.State.OOMKilled, timedOut, pidsLimitHits }, decoyIdentities(run));
    if (sink) {
      result.sinkhole = await sink.stop();
      sink = undefined;
    }
    return result;
  } catch (err) {
    if (container) await container.kill().catch(() => undefined);
    throw err instanceof LtrackError ? err : wrapError(err, 'sandbox_failed', 'docker sandbox failed');
  } finally {
    await following?.stop();
    await pidsWatch?.stop();
    if (container) await container.remove({ force: true }).catch(() => undefined);
    await sink?.stop().catch(() => undefined);
    await run.cleanup();
  }
}

function readOnlyBind(source: string, target: string): Docker.MountSettings {
  return { Type: 'bind', Source: source, Target: target, ReadOnly: true };
}
