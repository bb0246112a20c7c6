import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:fs';
import { chmod, cp, mkdir, open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { LtrackError, wrapError } from '../core/errors.js';
import { SANDBOX_LAYOUT } from '../core/sandbox-layout.js';
import { requireImage } from './image.js';
import { RunCgroup } from './cgroup.js';
import { MOUNTS, candidateMounts, depsMount, type RunPlan } from './plan.js';
import { HARNESS_DIR } from './recipe.js';
import { startSinkInNetns, type Sink } from './sinkhole.js';
import { projectPath } from '../core/paths.js';
import { isStaged } from '../intake/stage.js';
import type { Box, BoxContext, BoxExit } from './box.js';

/** The seccomp filter bootstrap compiles from sandbox/seccomp/denied.txt (scripts/bootstrap.d/65-seccomp.sh). */
export const SECCOMP_FILTER = projectPath('build', 'seccomp', 'bwrap.bpf');

/**
 * The daemonless driver: bubblewrap over the same rootfs the docker image was imported from, so
 * both drivers run the same userland. bwrap started as root would stay host root, so privileges
 * are dropped first (setpriv to uid 65534, no groups, no capabilities, no_new_privs) and bwrap
 * builds its namespaces as that user. `--block-fd` holds the harness before exec until the tracer
 * is attached (the go-handshake); `--info-fd` gives the child's host pid; `--seccomp` loads the
 * filter that refuses what Docker's default profile refuses to the docker driver.
 */
export function bwrapBox(ctx: BoxContext): Box {
  const { plan, run, limits, env, stdout, stderr } = ctx;
  let rootfs: string | undefined;
  let seccomp: FileHandle | undefined;
  let mounts: string[] = [];
  let cg: RunCgroup | undefined;
  let child: ChildProcess | undefined;
  let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> = Promise.resolve({ code: null, signal: null });
  let sink: Sink | undefined;
  return {
    get sink() {
      return sink;
    },
    async prepare() {
      ({ rootfs } = await requireImage('bwrap'));
      // read by bwrap through an inherited descriptor
      seccomp = await open(SECCOMP_FILTER).catch((err: unknown) => {
        throw wrapError(err, 'sandbox_failed', 'the bwrap seccomp filter is missing; run `bash scripts/bootstrap`', SECCOMP_FILTER);
      });
      mounts = await stageMounts(plan, run.root);
    },
    async start() {
      cg = await RunCgroup.create(ctx.layout, limits);
      const args = [
        '--reuid',
        String(SANDBOX_LAYOUT.uid),
        '--regid',
        String(SANDBOX_LAYOUT.gid),
        '--clear-groups',
        '--inh-caps=-all',
        '--bounding-set=-all',
        '--no-new-privs',
        '--',
        'bwrap',
        '--unshare-all',
        '--die-with-parent',
        '--new-session',
        '--clearenv',
        ...Object.entries(env).flatMap(([k, v]) => ['--setenv', k, v]),
        '--ro-bind',
        rootfs!,
        '/',
        '--proc',
        '/proc',
        '--dev',
        '/dev',
        '--size',
        String(limits.tmpBytes),
        '--tmpfs',
        '/tmp',
        '--size',
        String(limits.homeBytes),
        '--perms',
        '0700',
        '--tmpfs',
        SANDBOX_LAYOUT.home,
        ...run.decoys.flatMap((d) => ['--ro-bind', d.hostPath, d.path]),
        // Mount points cannot be made on the read-only root: small tmpfs parents hold them, then go read-only.
        '--tmpfs',
        '/ltrack',
        '--ro-bind',
        HARNESS_DIR,
        MOUNTS.harness,
        '--bind',
        run.out,
        MOUNTS.out,
        '--remount-ro',
        '/ltrack',
        ...mounts,
        '--chdir',
        SANDBOX_LAYOUT.home,
        '--info-fd',
        '3',
        '--block-fd',
        '4',
        '--seccomp',
        '5',
        '--',
        '/usr/bin/python3',
        '-B',
        '-s',
        `${MOUNTS.harness}/harness.py`,
      ];
      const c = spawn('setpriv', args, { stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe', seccomp!.fd], env: {} });
      child = c;
      exited = new Promise((res) => c.on('close', (code, signal) => res({ code, signal })));
      c.on('error', () => undefined);
      c.stdout!.pipe(stdout);
      c.stderr!.pipe(stderr);
      if (c.pid === undefined) throw new LtrackError('sandbox_failed', 'cannot start setpriv/bwrap');
      const group = cg;
      await group.add(c.pid).catch((err: unknown) => {
        throw wrapError(err, 'sandbox_failed', `bwrap died at start: ${stderr.text().slice(0, 300)}`);
      });
      const pid = await readInfo(c.stdio[3] as Readable, exited);
      // bwrap forked its sandbox child before we could move the parent: move the (still blocked) child too.
      await group.add(pid);
      // --network sinkhole: the sink joins the namespace bwrap made, before the sandbox runs anything
      if (plan.network === 'sinkhole') sink = await startSinkInNetns(pid);
      return { pid, cgroupId: group.cgroupId };
    },
    go() {
      const gate = child?.stdio[4] as Writable | undefined;
      gate?.on('error', () => undefined); // a sandbox dead before go: wait() reports its exit, not this write's EPIPE
      gate?.end('g');
    },
    async kill() {
      child?.kill('SIGKILL');
      await cg?.killAll();
    },
    async wait(): Promise<BoxExit> {
      const status = await exited;
      return {
        exitCode: status.code ?? (status.signal === 'SIGKILL' ? 137 : 128),
        oomKilled: (await cg?.oomKilled()) ?? false,
        pidsLimitHits: await cg?.pidsLimitHits(),
      };
    },
    async release() {
      child?.kill('SIGKILL');
      await cg?.remove();
      cg = undefined;
      await seccomp?.close().catch(() => undefined);
      seccomp = undefined;
    },
  };
}

/**
 * bwrap runs as uid 65534, which cannot look into the user's (often root-only) folders: inputs
 * that are not staged copies already (src/intake/stage.ts) are copied (reflinked where the file
 * system can) into the run folder, readable by the sandbox user; the originals are never touched.
 * Returns the mount arguments of the candidates, the lock file and the wheelhouse.
 */
async function stageMounts(plan: RunPlan, runRoot: string): Promise<string[]> {
  const staged = join(runRoot, 'stage');
  await mkdir(staged, { mode: 0o755 });
  let handed = 0;
  const stage = async (path: string, dest: string): Promise<string[]> => {
    if (isStaged(path)) return ['--ro-bind', path, dest];
    const copy = join(staged, `${handed++}-${basename(path)}`);
    try {
      await cp(resolve(path), copy, { recursive: true, mode: constants.COPYFILE_FICLONE });
      await chmodReadable(copy);
    } catch (err) {
      throw wrapError(err, 'bad_input', 'cannot stage for the sandbox', path);
    }
    return ['--ro-bind', copy, dest];
  };
  const models = (await Promise.all(candidateMounts(plan.models).map((m) => stage(m.hostPath, m.path)))).flat();
  const deps = depsMount(plan);
  return [
    '--tmpfs',
    SANDBOX_LAYOUT.candidate,
    ...models,
    '--remount-ro',
    SANDBOX_LAYOUT.candidate,
    ...(deps ? ['--tmpfs', SANDBOX_LAYOUT.deps, ...(await stage(deps.hostPath, deps.path)), '--remount-ro', SANDBOX_LAYOUT.deps] : []),
    ...(plan.wheelhouse ? await stage(plan.wheelhouse, SANDBOX_LAYOUT.wheelhouse) : []),
  ];
}

/** Makes a staged copy (file or folder tree) readable by the sandbox user. */
async function chmodReadable(path: string): Promise<void> {
  const s = await stat(path);
  await chmod(path, s.isDirectory() ? 0o755 : 0o644);
  if (s.isDirectory()) for (const name of await readdir(path)) await chmodReadable(join(path, name));
}

/** bwrap writes `{"child-pid": N, ...}` on the info fd once the sandbox's first process exists. */
async function readInfo(fd: Readable, exited: Promise<unknown>): Promise<number> {
  let text = '';
  const got = new Promise<number>((res, rej) => {
    fd.on('data', (d: Buffer) => {
      text += d.toString();
      const m = /"child-pid":\s*(\d+)/.exec(text);
      if (m) res(Number(m[1]));
    });
    fd.on('end', () => rej(new LtrackError('sandbox_failed', `bwrap gave no child pid${text ? `: ${text.slice(0, 200)}` : ''}`)));
  });
  const died = exited.then(() => Promise.reject(new LtrackError('sandbox_failed', 'bwrap exited before the sandbox started (user namespaces unavailable?)')));
  return Promise.race([got, died]);
}
