import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { cgroupLayout } from '../../src/core/cgroup-layout.js';
import { OWNER_LABEL } from '../../src/core/owner.js';
import { stageBase } from '../../src/intake/stage.js';
import { docker } from '../../src/sandbox/docker-client.js';
import { FIXTURES, blocksInProbePickle } from '../helpers/fixtures.js';
import { CLI_BIN } from '../helpers/cli.js';

/**
 * Clean shutdown with the real CLI, kernel, dockerd and bwrap: a vet is stopped by a signal in each
 * harness phase, and nothing it made may be left — its containers (by owner label), its cgroups
 * under ltrack's parent, its run folder in the temp dir, its staging area, and the BPF programs and
 * links it held. Other vets may run on this machine at the same time: every check is of the killed
 * vet's own leftovers, found by its pid.
 */
const model = join(FIXTURES, 'benign', 'torch_module.pt');
const deps = join(FIXTURES, 'deps', 'benign');
// the vet cannot finish on its own (it blocks in its probe): a signal sent once a phase is announced
// always reaches a running vet; with a quick candidate the probe phase can be over, and the vet gone
const scratch = await mkdtemp(join(tmpdir(), 'ltrack-shutdown-'));
afterAll(() => rm(scratch, { recursive: true, force: true }));
const blocksInProbe = join(scratch, 'blocks-in-probe.pkl');
await writeFile(blocksInProbe, blocksInProbePickle());
const pidns = await readlink('/proc/self/ns/pid');
const run = promisify(execFile);

interface Vet {
  child: ChildProcess;
  pid: number;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** BPF program and link ids the vet held, read from its descriptors once the tracer attached */
  bpf: Promise<{ progs: Set<number>; links: Set<number> }>;
}

function startVet(driver: 'docker' | 'bwrap', candidate: string, extra: string[] = ['--deps', join(deps, 'requirements.txt'), '--wheelhouse', join(deps, 'wheelhouse')]): Vet {
  const child = spawn(process.execPath, [CLI_BIN, 'vet', candidate, ...extra, '--sandbox', driver, '--format', 'json'], {
    env: { ...process.env, LTRACK_PROGRESS: '1', NO_COLOR: '1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on('close', (code, signal) => res({ code, signal })));
  const pid = child.pid!;
  const bpf = until(() => err.includes('tracer attached'), exited).then(() => heldBpf(pid));
  return { child, pid, stderr: () => err, exited, bpf };
}

/** Resolves once `cond` holds; rejects if the vet exits first. */
async function until(cond: () => boolean, exited: Promise<unknown>): Promise<void> {
  // widened: the flag is set by the callback below, which control-flow analysis does not see
  let done = false as boolean;
  void exited.then(() => (done = true));
  while (!cond()) {
    if (done) throw new Error('the vet exited first');
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function heldBpf(pid: number): Promise<{ progs: Set<number>; links: Set<number> }> {
  const progs = new Set<number>();
  const links = new Set<number>();
  for (const fd of await readdir(`/proc/${pid}/fd`).catch(() => [] as string[])) {
    const info = await readFile(`/proc/${pid}/fdinfo/${fd}`, 'utf8').catch(() => '');
    const p = /^prog_id:\s+(\d+)/m.exec(info);
    if (p) progs.add(Number(p[1]));
    const l = /^link_id:\s+(\d+)/m.exec(info);
    if (l) links.add(Number(l[1]));
  }
  return { progs, links };
}

/** Ids of `kind` (prog or link) still loaded, waiting (bounded) for the kernel's asynchronous release. */
async function stillLoaded(kind: 'prog' | 'link', ids: Set<number>): Promise<number[]> {
  let left: number[] = [...ids];
  for (let i = 0; i < 100 && left.length > 0; i++) {
    const { stdout } = await run('bpftool', ['-j', kind, 'show'], { maxBuffer: 64 << 20 });
    const loaded = new Set((JSON.parse(stdout) as { id: number }[]).map((x) => x.id));
    left = [...ids].filter((id) => loaded.has(id));
    if (left.length > 0) await new Promise((r) => setTimeout(r, 100));
  }
  return left;
}

/** Everything a vet of this pid made outside its own process that is still there. */
async function leftovers(pid: number): Promise<string[]> {
  const layout = await cgroupLayout();
  const out: string[] = [];
  const containers = await docker().listContainers({ all: true, filters: { label: [`${OWNER_LABEL}=${pidns}/${pid}`] } });
  out.push(...containers.map((c) => `container ${c.Id}`));
  const parents = [...Object.values(layout.v1), ...(layout.v2Root ? [layout.v2Root] : [])].map((root) => join(root, 'ltrack'));
  for (const parent of new Set(parents)) for (const name of await readdir(parent).catch(() => [] as string[])) if (name.startsWith(`${pid}-`)) out.push(`cgroup ${join(parent, name)}`);
  for (const name of await readdir(tmpdir())) if (name.startsWith(`ltrack-run-${pid}-`)) out.push(`run folder ${name}`);
  for (const name of await readdir(stageBase()).catch(() => [] as string[])) if (name.startsWith(`${pid}-`)) out.push(`staging ${name}`);
  return out;
}

const PHASES = ['install', 'import', 'load', 'probe'] as const;
const SIGNALS = [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const;

describe.each(['docker', 'bwrap'] as const)('a vet stopped by a signal cleans up everything (%s)', (driver) => {
  it.each(PHASES.flatMap((phase) => SIGNALS.map(([sig, code]) => [phase, sig, code] as const)))('in the %s phase, by %s: exit %i, nothing left', async (phase, sig, code) => {
    const vet = startVet(driver, blocksInProbe);
    // the phase as the harness announces it on its channel (the CLI prints it with LTRACK_PROGRESS)
    await until(() => vet.stderr().includes(`sandbox: ${phase} phase\n`), vet.exited);
    const held = await vet.bpf;
    expect(held.progs.size, 'the tracer held programs while it ran').toBeGreaterThan(3);
    expect(held.links.size).toBeGreaterThan(3);
    vet.child.kill(sig);
    const end = await vet.exited;
    expect(end, vet.stderr()).toEqual({ code, signal: null });
    expect(vet.stderr()).toContain(`${sig}: stopping and cleaning up`);
    expect(await leftovers(vet.pid)).toEqual([]);
    expect(await stillLoaded('prog', held.progs)).toEqual([]);
    expect(await stillLoaded('link', held.links)).toEqual([]);
  });
});

describe('a SIGKILLed vet', () => {
  it("leaves its containers, cgroups, run folders and staging areas to the next vet's sweep; the kernel frees its BPF", async () => {
    const killed: { pid: number; held: { progs: Set<number>; links: Set<number> } }[] = [];
    for (const driver of ['docker', 'bwrap'] as const) {
      const vet = startVet(driver, blocksInProbe, []);
      await until(() => vet.stderr().includes('sandbox: load phase\n'), vet.exited);
      const held = await vet.bpf;
      vet.child.kill('SIGKILL');
      expect(await vet.exited).toEqual({ code: null, signal: 'SIGKILL' });
      const left = await leftovers(vet.pid);
      // what a crash really leaves: proof that the sweep below has something to do
      expect(
        left.some((l) => l.startsWith('run folder')),
        left.join('\n'),
      ).toBe(true);
      expect(
        left.some((l) => l.startsWith('staging')),
        left.join('\n'),
      ).toBe(true);
      expect(
        left.some((l) => l.startsWith(driver === 'docker' ? 'container' : 'cgroup')),
        left.join('\n'),
      ).toBe(true);
      killed.push({ pid: vet.pid, held });
    }
    for (const { held } of killed) {
      expect(await stillLoaded('prog', held.progs)).toEqual([]);
      expect(await stillLoaded('link', held.links)).toEqual([]);
    }
    const next = startVet('bwrap', model, []);
    const end = await next.exited;
    expect(end.code, next.stderr()).toBe(0);
    for (const { pid } of killed) expect(await leftovers(pid)).toEqual([]);
  });
});
