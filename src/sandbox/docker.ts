import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type Docker from 'dockerode';
import { wrapError } from '../core/errors.js';
import { processCgroupDirs } from '../core/cgroup-layout.js';
import { OWNER_LABEL, ownerLabel } from '../core/owner.js';
import { SANDBOX_LAYOUT } from '../core/sandbox-layout.js';
import { attachOutput, docker } from './docker-client.js';
import { requireImage } from './image.js';
import { watchPidsLimitHits } from './cgroup.js';
import { MOUNTS, candidateMounts, depsMount } from './plan.js';
import { HARNESS_DIR } from './recipe.js';
import { startSinkContainer, type Sink } from './sinkhole.js';
import type { Box, BoxContext, BoxExit } from './box.js';

/**
 * The first process is a shell that reads one line and only then execs the harness: nothing of
 * ours runs until the host has attached the tracer and said "go", so the interpreter's start-up
 * is observed too. Anything else on stdin (the host gave up) ends the run before it starts.
 */
const GATE = 'read -r go && [ "$go" = go ] && exec python3 -B -s /ltrack/harness/harness.py';

/** The docker driver: one container of the sandbox image, held at the gate until "go". */
export function dockerBox(ctx: BoxContext): Box {
  const { plan, run, limits, env, stdout, stderr } = ctx;
  let tag: string | undefined;
  let container: Docker.Container | undefined;
  let sink: Sink | undefined;
  let stdin: NodeJS.ReadWriteStream | undefined;
  let streamEnded: Promise<void> = Promise.resolve();
  let pidsWatch: ReturnType<typeof watchPidsLimitHits> | undefined;
  return {
    get sink() {
      return sink;
    },
    async prepare() {
      ({ tag } = await requireImage('docker'));
    },
    async start() {
      const image = tag!;
      // --network sinkhole: the candidate joins the network namespace of a sink of ours
      if (plan.network === 'sinkhole') sink = await startSinkContainer(image, limits);
      const deps = depsMount(plan);
      // The candidate's paths are the user's names: structured mounts, because a `:` or `,` in a
      // string-built volume spec splits it into other fields.
      const userMounts: Docker.MountSettings[] = [
        ...run.decoys.map((d) => readOnlyBind(d.hostPath, d.path)),
        ...candidateMounts(plan.models).map((m) => readOnlyBind(m.hostPath, m.path)),
        ...(deps ? [readOnlyBind(deps.hostPath, deps.path)] : []),
        ...(plan.wheelhouse ? [readOnlyBind(resolve(plan.wheelhouse), SANDBOX_LAYOUT.wheelhouse)] : []),
      ];
      const c = await docker()
        .createContainer({
          Image: image,
          Cmd: ['/bin/sh', '-c', GATE],
          User: `${SANDBOX_LAYOUT.uid}:${SANDBOX_LAYOUT.gid}`,
          WorkingDir: SANDBOX_LAYOUT.home,
          Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
          Labels: { 'dev.ltrack.run': run.root, [OWNER_LABEL]: ownerLabel() },
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
            Binds: [`${HARNESS_DIR}:${MOUNTS.harness}:ro`, `${run.out}:${MOUNTS.out}:rw`],
            Mounts: userMounts,
          },
        })
        .catch((err: unknown) => Promise.reject(wrapError(err, 'sandbox_failed', 'docker could not create the sandbox container')));
      container = c;
      ({ stream: stdin, ended: streamEnded } = await attachOutput(c, stdout, stderr, { stdin: true }));
      await c.start();
      const info = await c.inspect();
      // The container's cgroups, as the kernel lists them for its first process (runc's layout
      // differs by cgroup driver and version; /proc says where it really put them).
      const dirs = await readFile(`/proc/${info.State.Pid}/cgroup`, 'utf8').then(
        (text) => processCgroupDirs(text, ctx.layout),
        (): ReturnType<typeof processCgroupDirs> => ({ v1: {} }),
      );
      const pidsDir = dirs.v1.pids ?? dirs.v2;
      if (pidsDir !== undefined) pidsWatch = watchPidsLimitHits(pidsDir);
      const cgroupId =
        dirs.v2 === undefined
          ? undefined
          : await stat(dirs.v2).then(
              (s) => s.ino,
              () => undefined,
            );
      return { pid: info.State.Pid, cgroupId };
    },
    go() {
      stdin?.write('go\n');
    },
    async kill() {
      // a killed client would leave the container running: kill it ourselves
      await container?.kill().catch(() => undefined);
    },
    async wait(): Promise<BoxExit> {
      const c = container!;
      const exit = (await c.wait()) as { StatusCode: number };
      // the output stream's end, or 2 s; the timer is cleared, or it would hold the process that long at exit
      let streamTimer: NodeJS.Timeout | undefined;
      await Promise.race([streamEnded, new Promise((r) => (streamTimer = setTimeout(r, 2000)))]);
      clearTimeout(streamTimer);
      const after = await c.inspect();
      const pidsLimitHits = await pidsWatch?.stop();
      pidsWatch = undefined;
      return { exitCode: exit.StatusCode, oomKilled: after.State.OOMKilled, pidsLimitHits };
    },
    async release() {
      await pidsWatch?.stop();
      pidsWatch = undefined;
      await container?.remove({ force: true }).catch(() => undefined);
      container = undefined;
    },
  };
}

function readOnlyBind(source: string, target: string): Docker.MountSettings {
  return { Type: 'bind', Source: source, Target: target, ReadOnly: true };
}
