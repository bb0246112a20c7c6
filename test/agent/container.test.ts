import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASELINE_PREDICATE_TYPE, signBaseline, type BaselineStatement } from '../../src/agent/baseline.js';
import { generateKeyPair, readSigningKey } from '../../src/manifest/index.js';
import { STATEMENT_TYPE } from '../../src/manifest/types.js';
import { requireImage } from '../../src/sandbox/image.js';
import { actionsIn, startLtrack } from './helpers.js';

const run = promisify(execFile);
let work: string;
let container: string;
let key: { privatePath: string; publicPath: string };
let baseline: string;

/** Runs a program in the container with `docker exec`; its exit status (137: killed). */
async function dockerExec(argv: string[]): Promise<number> {
  return run('docker', ['exec', container, ...argv]).then(
    () => 0,
    (err: unknown) => (err as { code?: number }).code ?? -1,
  );
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lt-agent-ctr-'));
  const { tag } = await requireImage('docker');
  container = (await run('docker', ['run', '-d', '--rm', '--network', 'none', tag, 'sleep', '600'])).stdout.trim();
  const pid = (await run('docker', ['inspect', '-f', '{{.State.Pid}}', container])).stdout.trim();
  // the container's own libc, hashed as its processes see it: what the operator's baseline for it holds
  const libc = '/usr/lib/x86_64-linux-gnu/libc.so.6';
  const sha256 = createHash('sha256')
    .update(await readFile(`/proc/${pid}/root${libc}`))
    .digest('hex');
  key = await generateKeyPair(join(work, 'op'));
  const now = Date.now();
  const statement: BaselineStatement = {
    _type: STATEMENT_TYPE,
    subject: [{ name: '/usr/bin/sleep', digest: { sha256: 'a'.repeat(64) } }],
    predicateType: BASELINE_PREDICATE_TYPE,
    predicate: {
      command: ['sleep', '600'],
      host: 'test',
      tool: { name: 'ltrack', version: '0.0.0' },
      issuedAt: new Date(now - 60_000).toISOString(),
      expiresAt: new Date(now + 3_600_000).toISOString(),
      allow: { exec: ['/usr/bin/true'], libraries: [{ path: libc, sha256 }], network: [], reads: ['/'] },
    },
  };
  baseline = join(work, 'baseline.json');
  await writeFile(baseline, JSON.stringify(signBaseline(statement, await readSigningKey(key.privatePath))));
});

afterAll(async () => {
  if (container) await run('docker', ['rm', '-f', container]).catch(() => undefined);
  await rm(work, { recursive: true, force: true });
});

describe('ltrack agent --container', () => {
  it('holds a running container resolved through the Docker API, including processes started in it later', async () => {
    const events = join(work, 'events.jsonl');
    const agent = startLtrack(['agent', '--baseline', baseline, '--key', key.publicPath, '--container', container, '--events', events]);
    await agent.waitFor('stderr', /enforcing 0 manifest\(s\) and 1 baseline\(s\) on cgroup \//);
    expect(await dockerExec(['/usr/bin/true'])).toBe(0); // listed, and its libc is the one hashed in the container
    expect(await dockerExec(['/usr/bin/id'])).toBe(137); // not listed: killed at exec
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
    const actions = await actionsIn(events);
    // the allowlist's decisions; entering the container (runc's setgroups/setresuid) is reported by
    // the vet's privilege rule as an alert, never acted on
    expect(actions.filter((a) => a.ruleId.startsWith('LT-AGT-')).map((a) => [a.ruleId, a.action, a.event.path])).toEqual([['LT-AGT-001', 'killed', '/usr/bin/id']]);
    expect(actions.filter((a) => !a.ruleId.startsWith('LT-AGT-')).every((a) => a.action === 'alerted')).toBe(true);
    expect(await dockerExec(['/usr/bin/id'])).toBe(0); // detached
  });
});
