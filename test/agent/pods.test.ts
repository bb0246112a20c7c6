import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, rmdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cgroupLayout } from '../../src/core/cgroup-layout.js';
import { generateKeyPair } from '../../src/manifest/index.js';
import { PYTHON } from '../trace/helpers.js';
import { get, SERVER, startLtrack } from './helpers.js';

const run = promisify(execFile);

/**
 * `ltrack agent --pods`: an API server stand-in on loopback answers the pod list as the
 * Kubernetes API does (bearer token checked, label and field selectors passed through), and the
 * "pod" is a real cgroup v2 folder named as the kubelet's systemd driver names them, with the
 * model server running inside it.
 */
describe('ltrack agent --pods', () => {
  let work: string;
  let baseline: string;
  let key: { privatePath: string; publicPath: string };
  let api: Server;
  let apiPort: number;
  const state: { items: unknown[]; queries: string[]; badToken: number } = { items: [], queries: [], badToken: 0 };
  const uid = randomUUID();
  let slice: string;
  let podDir: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'lt-agent-pods-'));
    await run(PYTHON, ['-c', `import numpy as np; np.save(${JSON.stringify(join(work, 'model.npy'))}, np.arange(16, dtype=np.float32))`]);
    key = await generateKeyPair(join(work, 'op'));
    baseline = join(work, 'baseline.json');
    const rec = startLtrack(['agent', 'baseline', '--out', baseline, '--sign-key', key.privatePath, '--', PYTHON, SERVER, join(work, 'model.npy')]);
    const port = Number((await rec.waitFor('stdout', /ready (\d+)/))[1]);
    await get(port, '/predict');
    rec.child.kill('SIGINT');
    expect(await rec.exited).toBe(0);
    await mkdir(join(work, 'sa'));
    await writeFile(join(work, 'sa', 'token'), 'pod-token-7c1\n');
    api = createServer((req, res) => {
      if (req.headers.authorization !== 'Bearer pod-token-7c1') {
        state.badToken++;
        res.writeHead(401).end();
        return;
      }
      state.queries.push(req.url ?? '');
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ kind: 'PodList', apiVersion: 'v1', items: state.items }));
    });
    await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
    apiPort = (api.address() as { port: number }).port;
    const root = (await cgroupLayout()).v2Root!;
    slice = join(root, `lt-test-kubepods-${process.pid}.slice`);
    podDir = join(slice, `kubepods-besteffort-pod${uid.replace(/-/g, '_')}.slice`);
    await mkdir(podDir, { recursive: true });
  });

  afterAll(async () => {
    await new Promise((r) => api.close(r));
    await rmdir(podDir).catch(() => undefined);
    await rmdir(slice).catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  });

  it('holds a selected pod found on this node once the API lists it, through its cgroup', async () => {
    // the pod's process: moves itself into the pod's cgroup, then becomes the model server
    const server = spawn('/bin/sh', ['-c', `echo $$ > ${podDir}/cgroup.procs && exec ${PYTHON} ${SERVER} ${join(work, 'model.npy')}`], { stdio: ['ignore', 'pipe', 'inherit'] });
    const port = await new Promise<number>((resolve) => server.stdout.on('data', (d: Buffer) => resolve(Number(/ready (\d+)/.exec(d.toString())?.[1]))));
    const exited = new Promise((r) => server.on('close', r));
    const agent = startLtrack([
      'agent',
      '--baseline',
      baseline,
      '--key',
      key.publicPath,
      '--pods',
      'app=model',
      '--node',
      'node-1',
      '--kube-api',
      `http://127.0.0.1:${apiPort}`,
      '--kube-sa',
      join(work, 'sa'),
      '--pods-every',
      '0.2',
    ]);
    try {
      await agent.waitFor('stderr', /enforcing 0 manifest\(s\) and 1 baseline\(s\) on pods app=model on node node-1/);
      // not listed yet: not held
      expect(await get(port, '/exec?arg=/usr/bin/true')).toEqual({ codes: [0], killed: 0 });
      state.items = [{ metadata: { name: 'model-0', namespace: 'serving', uid }, status: { phase: 'Running' } }];
      await agent.waitFor('stderr', /holding pod serving\/model-0 \(.*kubepods-besteffort-pod/);
      expect(await get(port, '/exec?arg=/usr/bin/true')).toEqual({ codes: [-9], killed: 1 });
      expect(await get(port, '/predict')).toEqual({ y: 1240 });
      const q = new URL(state.queries.at(-1)!, 'http://x');
      expect(q.pathname).toBe('/api/v1/pods');
      expect(q.searchParams.get('labelSelector')).toBe('app=model');
      expect(q.searchParams.get('fieldSelector')).toBe('spec.nodeName=node-1,status.phase=Running');
      expect(state.badToken).toBe(0);
      state.items = [];
      await agent.waitFor('stderr', /pod serving\/model-0 is gone/);
    } finally {
      agent.child.kill('SIGTERM');
      await agent.exited;
      server.kill('SIGKILL');
      await exited;
    }
  });
});
