import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { chmod, cp, mkdir, open, readdir, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { LtrackError, wrapError } from '../core/errors.js';
import { SANDBOX_LAYOUT } from '../core/sandbox-layout.js';
import { requireImage } from './image.js';
import { resolveLimits } from './limits.js';
import { CappedSink } from './output.js';
import { collectResult } from './result.js';
import { DECOY_ENV } from './decoys.js';
import { RunCgroup } from './cgroup.js';
import { MOUNTS, candidateMounts, decoyIdentities, followPhases, harnessPlan, makeRunDir, type RunPlan, type SandboxHooks, type SandboxResult } from './plan.js';
import { HARNESS_DIR } from './recipe.js';
import { startSinkInNetns, type Sink } from './sinkhole.js';
import { projectPath } from '../core/paths.js';
import { isStaged } from '../intake/stage.js';

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
export async function runBwrap(plan: RunPlan, hooks: SandboxHooks): Promise<SandboxResult> {
  const { rootfs } = await requireImage('bwrap');
  // read by bwrap through an inherited descriptor
  const seccomp = await open(SECCOMP_FILTER).catch((err: unknown) => {
    throw wrapError(err, 'sandbox_failed', 'the bwrap seccomp filter is missing; run `bash scripts/bootstrap`', SECCOMP_FILTER);
  });
  const limits = resolveLimits(plan.limits);
  const run = await makeRunDir();
  const cg = await RunCgroup.create(`ltrack-${randomBytes(6).toString('hex')}`, limits);
  const stdout = new CappedSink(limits.outputBytes);
  const stderr = new CappedSink(limits.outputBytes);
  let sink: Sink | undefined;
  let following: ReturnType<typeof followPhases>;
  try {
    const harness = harnessPlan(plan, run, 'block');
    const env: Record<string, string> = {
      HOME: SANDBOX_LAYOUT.home,
      PATH: '/usr/local/bin:/usr/bin:/bin',
      PYTHONDONTWRITEBYTECODE: '1',
      LANG: 'C.UTF-8',
      LTRACK_PLAN: JSON.stringify(harness),
      ...DECOY_ENV,
    };
    // bwrap runs as uid 65534, which cannot look into the user's (often root-only) folders: the
    // candidate files are copied (reflinked where the file system can) into the run folder, readable
    // by the sandbox user; the originals are never touched.
    const staged = join(run.root, 'stage');
    await mkdir(staged, { mode: 0o755 });
    const stage = async (path: string, dest: string): Promise<string[]> => {
      // A vet's candidates are staged copies already (src/intake/stage.ts), readable by the sandbox user.
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
    let handed = 0;
    const modelMounts = (await Promise.all(candidateMounts(plan.models).map((m) => stage(m.hostPath, m.path)))).flat();
    const depsMount = plan.deps ? await stage(plan.deps.hostPath, `${SANDBOX_LAYOUT.deps}/${basename(plan.deps.hostPath)}`) : [];
    const wheelMount = plan.wheelhouse ? await stage(plan.wheelhouse, SANDBOX_LAYOUT.wheelhouse) : [];
    const args = [
      '--reuid', String(SANDBOX_LAYOUT.uid), '--regid', String(SANDBOX_LAYOUT.gid), '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs', '--',
      'bwrap', '--unshare-all', '--die-with-parent', '--new-session', '--clearenv',
      ...Object.entries(env).flatMap(([k, v]) => ['--setenv', k, v]),
      '--ro-bind', rootfs, '/',
      '--proc', '/proc', '--dev', '/dev',
      '--size', String(limits.tmpBytes), '--tmpfs', '/tmp',
      '--size', String(limits.homeBytes), '--perms', '0700', '--tmpfs', SANDBOX_LAYOUT.home,
      ...run.decoys.flatMap((d) => ['--ro-bind', d.hostPath, d.path]),
      // Mount points cannot be made on the read-only root: small tmpfs parents hold them, then go read-only.
      '--tmpfs', '/ltrack',
      '--ro-bind', HARNESS_DIR, MOUNTS.harness,
      '--bind', run.out, MOUNTS.out,
      '--remount-ro', '/ltrack',
      '--tmpfs', SANDBOX_LAYOUT.candidate,
      ...modelMounts,
      '--remount-ro', SANDBOX_LAYOUT.candidate,
      ...(plan.deps ? ['--tmpfs', SANDBOX_LAYOUT.deps, ...depsMount, '--remount-ro', SANDBOX_LAYOUT.deps] : []),
      ...wheelMount,
      '--chdir', SANDBOX_LAYOUT.home,
      '--info-fd', '3', '--block-fd', '4', '--seccomp', '5',
      '--', '/usr/bin/python3', '-B', '-s', `${MOUNTS.harness}/harness.py`,
    ];
    const child = spawn('setpriv', args, { stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe', seccomp.fd], env: {} });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on('close', (code, signal) => res({ code, signal })));
    child.on('error', () => undefined);
    child.stdout!.pipe(stdout);
    child.stderr!.pipe(stderr);
    if (child.pid === undefined) throw new LtrackError('sandbox_failed', 'cannot start setpriv/bwrap');
    await cg.add(child.pid).catch((err: unknown) => {
      child.kill('SIGKILL');
      throw wrapError(err, 'sandbox_failed', `bwrap died at start: ${stderr.text().slice(0, 300)}`);
    });
    const info = await readInfo(child.stdio[3] as Readable, exited);
    // bwrap forked its sandbox child before we could move the parent: move the (still blocked) child too.
    await cg.add(info);
    // --network sinkhole: the sink joins the namespace bwrap made, before the sandbox runs anything
    if (plan.network === 'sinkhole') sink = await startSinkInNetns(info);
    await hooks.onReady?.({ pid: info, ...(cg.cgroupId === undefined ? {} : { cgroupId: cg.cgroupId }) });
    (child.stdio[4] as Writable).end('g');
    following = followPhases(run.out, hooks);

    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      void cg.killAll();
    }, plan.timeoutSec * 1000);
    const status = await exited.finally(() => clearTimeout(timer));
    await following?.stop();
    following = undefined;
    const result = await collectResult('bwrap', run.out, { stdout, stderr }, {
      exitCode: status.code ?? (status.signal === 'SIGKILL' ? 137 : 128),
      oomKilled: await cg.oomKilled(),
      timedOut,
      pidsLimitHits: await cg.pidsLimitHits(),
    }, decoyIdentities(run));
    if (sink) {
      result.sinkhole = await sink.stop();
      sink = undefined;
    }
    return result;
  } catch (err) {
    throw err instanceof LtrackError ? err : wrapError(err, 'sandbox_failed', 'bubblewrap sandbox failed');
  } finally {
    await following?.stop();
    await sink?.stop().catch(() => undefined);
    await seccomp.close();
    await cg.remove();
    await run.cleanup();
  }
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
