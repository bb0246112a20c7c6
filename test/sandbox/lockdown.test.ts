import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSandbox, type Driver, type SandboxResult } from '../../src/sandbox/index.js';

/**
 * Lockdown of the sandbox, tested with the real driver and image: each case is a pickle whose
 * load runs a few lines of Python (builtins.exec of a constant), harmless on any host.
 */
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ltrack-lockdown-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

async function runCode(driver: Driver, name: string, code: string, extra: { timeoutSec?: number; limits?: Record<string, number> } = {}): Promise<SandboxResult> {
  const src = Buffer.from(code, 'utf8');
  const header = Buffer.alloc(5);
  header[0] = 0x58; // BINUNICODE
  header.writeUInt32LE(src.length, 1);
  const pickle = Buffer.concat([Buffer.from('\x80\x02cbuiltins\nexec\n', 'latin1'), header, src, Buffer.from('\x85R.', 'latin1')]);
  const path = join(dir, `${name}.pkl`);
  await writeFile(path, pickle);
  return runSandbox({ driver, models: [{ hostPath: path, format: 'pickle' }], network: 'none', timeoutSec: extra.timeoutSec ?? 120, ...(extra.limits ? { limits: extra.limits } : {}) });
}

// the harness's own account (a driver alone sees no kernel events, so no phase times)
const loadPhase = (r: SandboxResult) => r.reports.find((p) => p.phase === 'load');

describe.each(['docker', 'bwrap'] as Driver[])('%s sandbox lockdown', (driver) => {
  it('has no network interface but loopback, runs as uid 65534 with no capabilities and no_new_privs', async () => {
    const r = await runCode(
      driver,
      'identity',
      `
import os
print('NET', sorted(l.split(':')[0].strip() for l in open('/proc/net/dev').readlines()[2:]))
s = open('/proc/self/status').read()
print('UID', os.getuid(), 'CAPEFF', [l.split()[1] for l in s.splitlines() if l.startswith('CapEff')][0], 'NNP', [l.split()[1] for l in s.splitlines() if l.startswith('NoNewPrivs')][0])
print('SECCOMP', [l.split()[1] for l in s.splitlines() if l.startswith('Seccomp:')][0])
`,
    );
    expect(loadPhase(r)?.ok, r.stderr).toBe(true);
    expect(r.stdout).toContain("NET ['lo']");
    expect(r.stdout).toContain('UID 65534 CAPEFF 0000000000000000 NNP 1');
    // seccomp filter mode: Docker's default profile, or ours for bwrap (sandbox/seccomp)
    expect(r.stdout).toContain('SECCOMP 2');
  });

  it('refuses new namespaces, mounts and the kernel keyring (seccomp)', async () => {
    const r = await runCode(
      driver,
      'seccomp',
      `
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
def call(name, *args, libc=libc, ctypes=ctypes):  # exec'd code: no module globals
    rc = getattr(libc, name)(*args)
    print('SYSCALL', name, rc, ctypes.get_errno())
call('unshare', 0x10000000)            # CLONE_NEWUSER
call('syscall', 250, 0, 0, 0, 0)       # keyctl(KEYCTL_GET_KEYRING_ID)
call('mount', b'none', b'/tmp', b'tmpfs', 0, None)
call('syscall', 425, 8, None)          # io_uring_setup
import subprocess; print('SPAWN', subprocess.run(['/bin/true']).returncode)
`,
    );
    expect(loadPhase(r)?.ok, r.stderr).toBe(true);
    expect(r.stdout).toContain('SYSCALL unshare -1 1');
    expect(r.stdout).toContain('SYSCALL syscall -1 1\n');
    expect(r.stdout).toContain('SYSCALL mount -1 1');
    // the bwrap filter refuses io_uring (its operations escape syscall tracing); Docker's profile
    // refuses it on newer engines only
    if (driver === 'bwrap') expect(r.stdout).toMatch(/SYSCALL syscall -1 1\n(.|\n)*SYSCALL syscall -1 1\n/);
    // processes still start (clone3 refused with ENOSYS makes glibc fall back to clone)
    expect(r.stdout).toContain('SPAWN 0');
  });

  it('cannot write the root, the candidate or system packages; /tmp and HOME are writable and sized', async () => {
    const r = await runCode(
      driver,
      'writes',
      `
import os
for p in ['/usr/lib/python3/dist-packages/evil.pth', '/candidate/writes.pkl', '/etc/cron.daily/x', '/tmp/ok', '/home/ltrack/ok']:
    try:
        open(p, 'a').close(); print('WROTE', p)
    except OSError as e:
        print('DENIED', p, e.errno)
st = os.statvfs('/tmp'); print('TMPSIZE', st.f_blocks * st.f_frsize)
for line in open('/proc/self/mountinfo'):
    f = line.split()
    if f[4].startswith('/candidate/'): print('MOUNT', f[4], f[5].split(',')[0])
print('DECOY', open(os.path.expanduser('~/.ssh/id_rsa')).read().startswith('-----BEGIN'), 'HF_TOKEN' in os.environ)
`,
    );
    expect(r.stdout).toMatch(/DENIED \/usr\/lib\/python3\/dist-packages\/evil.pth 30/);
    // uid 65534 is refused before the read-only mount is consulted (EACCES); the mount is ro as well
    expect(r.stdout).toMatch(/DENIED \/candidate\/writes.pkl (13|30)/);
    expect(r.stdout).toContain('MOUNT /candidate/writes.pkl ro');
    expect(r.stdout).toMatch(/DENIED \/etc\/cron.daily\/x 30/);
    expect(r.stdout).toContain('WROTE /tmp/ok');
    expect(r.stdout).toContain('WROTE /home/ltrack/ok');
    expect(Number(/TMPSIZE (\d+)/.exec(r.stdout)?.[1])).toBe(1024 * 1024 * 1024);
    expect(r.stdout).toContain('DECOY True True');
  });

  it('contains a fork bomb with the pids limit', async () => {
    const r = await runCode(
      driver,
      'forkbomb',
      `
import os, time
children = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(30); os._exit(0)
        children += 1
except OSError as e:
    print('FORK STOPPED', children, e.errno)
`,
      { limits: { pids: 64 } },
    );
    const m = /FORK STOPPED (\d+) 11/.exec(r.stdout);
    expect(m, r.stdout + r.stderr).not.toBeNull();
    expect(Number(m![1])).toBeLessThan(64);
  });

  it('OOM-kills a memory bomb and reports it', async () => {
    const r = await runCode(
      driver,
      'membomb',
      `
chunks = []
while True:
    chunks.append(bytearray(64 << 20))
`,
      { limits: { memoryBytes: 256 << 20 } },
    );
    expect(r.oomKilled).toBe(true);
    expect(r.exitCode).toBe(137);
    expect(loadPhase(r)?.ok).toBe(false);
  });

  it('holds the process tree to its CPU share', async () => {
    // two busy processes for 2 s of wall time: unlimited they would burn ~2 s of CPU each
    const r = await runCode(
      driver,
      'cpu',
      `
import os, time
start = time.monotonic()
kids = []
for _ in range(2):
    pid = os.fork()
    if pid == 0:
        while time.monotonic() - start < 2.0:
            pass
        os._exit(0)
    kids.append(pid)
for pid in kids:
    os.waitpid(pid, 0)
t = os.times()
print('CPU/WALL %.2f' % ((t.children_user + t.children_system) / (time.monotonic() - start)))
`,
      { limits: { cpus: 0.5 } },
    );
    expect(loadPhase(r)?.ok, r.stderr).toBe(true);
    const ratio = Number(/CPU\/WALL ([\d.]+)/.exec(r.stdout)?.[1]);
    expect(ratio).toBeGreaterThan(0.2); // it did run
    expect(ratio).toBeLessThan(0.75); // but within half a core (with the quota's rounding)
  });

  it('kills a payload that sleeps forever at the wall-clock limit', async () => {
    const r = await runCode(driver, 'sleeper', 'import time\ntime.sleep(3600)', { timeoutSec: 8 });
    expect(r.timedOut).toBe(true);
    expect(loadPhase(r)?.error).toBe('did not finish');
  });

  it('caps a flood of output', async () => {
    const r = await runCode(driver, 'flood', "import sys\nfor _ in range(200):\n    sys.stdout.write('x' * 65536)\n", { limits: { outputBytes: 4096 } });
    expect(r.outputTruncated).toBe(true);
    expect(r.stdout.length).toBe(4096);
    expect(loadPhase(r)?.ok).toBe(true);
  });
});
