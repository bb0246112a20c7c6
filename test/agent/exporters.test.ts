import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { actionCef } from '../../src/agent/exporters.js';
import type { AgentAction } from '../../src/agent/types.js';
import { generateKeyPair, signEd25519 } from '../../src/manifest/index.js';
import { loadRuleSet } from '../../src/rules/index.js';
import { PYTHON } from '../trace/helpers.js';
import { get, SERVER, startLtrack, statementFor } from './helpers.js';

const run = promisify(execFile);

/** CEF extension fields as a SIEM parses them: a key is `word=`, a value runs to the next unescaped ` key=`. */
function cefFields(record: string): [string, string][] {
  const ext = record
    .split(/(?<!\\)\|/)
    .slice(7)
    .join('|');
  return [...ext.matchAll(/(\w+)=((?:\\.|[^\\])*?)(?= \w+=|$)/g)].map((m) => [m[1]!, m[2]!]);
}

/** RFC 6587 octet-counted frames of a TCP syslog stream (a partial frame at the end is left out). */
function octetFrames(stream: string): string[] {
  const frames: string[] = [];
  for (let rest = stream; ;) {
    const m = /^(\d+) /.exec(rest);
    if (!m || rest.length < m[0].length + Number(m[1])) return frames;
    frames.push(rest.slice(m[0].length, m[0].length + Number(m[1])));
    rest = rest.slice(m[0].length + Number(m[1]));
  }
}

describe('CEF records', () => {
  it('a path holding |, =, \\ and a newline stays inside its own field and forges none', () => {
    const path = '/tmp/x| act=allowed dst=10.0.0.1 \\ end\nnext=line';
    const a: AgentAction = {
      time: new Date().toISOString(),
      action: 'killed',
      mode: 'enforce',
      ruleId: 'LT-AGT-001',
      manifest: 'm.json',
      missing: ['manifest'],
      event: { kind: 'exec', pid: 1, tgid: 1, ppid: 0, uid: 0, comm: 'py|thon', cgroup: 0, path },
      reason: `killed exec of ${path}`,
    };
    const rec = actionCef(a, 10);
    expect(rec.split('\n')).toHaveLength(1);
    const fields = cefFields(rec);
    const keys = fields.map(([k]) => k);
    expect(keys.filter((k) => k === 'act')).toHaveLength(1);
    expect(keys).not.toContain('dst');
    expect(keys).not.toContain('next');
    expect(fields.find(([k]) => k === 'act')![1]).toBe('killed');
    expect(fields.find(([k]) => k === 'fname')![1]).toContain('act\\=allowed');
  });
});

describe('ltrack agent exporters against loopback receivers', () => {
  let work: string;
  let models: string;
  let manifest: string;
  let baseline: string;
  let vetKey: { privatePath: string; publicPath: string };
  let opKey: { privatePath: string; publicPath: string };
  const token = 'test-hec-token-5f1b';

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'lt-agent-exp-'));
    models = join(work, 'models');
    await mkdir(models);
    await run(PYTHON, ['-c', `import numpy as np; np.save(${JSON.stringify(join(models, 'model.npy'))}, np.arange(16, dtype=np.float32))`]);
    const sha256 = createHash('sha256')
      .update(await readFile(join(models, 'model.npy')))
      .digest('hex');
    vetKey = await generateKeyPair(join(work, 'vet'));
    opKey = await generateKeyPair(join(work, 'op'));
    manifest = join(work, 'manifest.json');
    await writeFile(manifest, JSON.stringify(signEd25519(statementFor([{ name: 'model.npy', sha256 }], (await loadRuleSet()).digest), await readFile(vetKey.privatePath, 'utf8'))));
    baseline = join(work, 'baseline.json');
    const rec = startLtrack(['agent', 'baseline', '--out', baseline, '--sign-key', opKey.privatePath, '--', PYTHON, SERVER, join(models, 'model.npy')]);
    const port = Number((await rec.waitFor('stdout', /ready (\d+)/))[1]);
    for (let i = 0; i < 3; i++) await get(port, '/predict');
    rec.child.kill('SIGINT');
    expect(await rec.exited).toBe(0);
    await writeFile(join(work, 'token'), `${token}\n`, { mode: 0o600 });
  });
  afterAll(async () => rm(work, { recursive: true, force: true }));

  /** `ltrack agent` holding the test server to its manifest and baseline (the target comes after). */
  const held = () => ['agent', manifest, '--key', vetKey.publicPath, '--models', models, '--baseline', baseline, '--baseline-key', opKey.publicPath];

  /** A HEC stand-in: checks the token, unzips, counts events; `up` false answers 503. */
  async function hecReceiver() {
    const events: AgentAction[] = [];
    const state = { up: true, badToken: 0 };
    const server = createHttpServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.url !== '/services/collector/event' || req.headers.authorization !== `Splunk ${token}`) {
          state.badToken++;
          res.writeHead(403).end();
          return;
        }
        if (!state.up) {
          res.writeHead(503).end();
          return;
        }
        const body = req.headers['content-encoding'] === 'gzip' ? gunzipSync(Buffer.concat(chunks)) : Buffer.concat(chunks);
        for (const line of body.toString().split('\n').filter(Boolean)) events.push((JSON.parse(line) as { event: AgentAction }).event);
        res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"text":"Success","code":0}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { events, state, port: (server.address() as { port: number }).port, close: () => new Promise((r) => server.close(r)) };
  }

  async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
    for (let i = 0; i < 200; i++) {
      if (await check()) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`timed out waiting for ${what}`);
  }

  it('every action arrives once over UDP syslog, TCP syslog and HEC; the token is never printed', async () => {
    const udp = createSocket('udp4');
    const udpMsgs: string[] = [];
    udp.on('message', (m) => udpMsgs.push(m.toString()));
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
    let tcpBuf = '';
    const tcp = createTcpServer((s) => s.on('data', (d) => (tcpBuf += d.toString())));
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
    const hec = await hecReceiver();
    const agent = startLtrack([
      ...held(),
      '--cef',
      `udp://127.0.0.1:${udp.address().port}`,
      '--cef',
      `tcp://127.0.0.1:${(tcp.address() as { port: number }).port}`,
      '--hec',
      `http://127.0.0.1:${hec.port}`,
      '--hec-token-file',
      join(work, 'token'),
      '--',
      PYTHON,
      SERVER,
      join(models, 'model.npy'),
    ]);
    try {
      const port = Number((await agent.waitFor('stdout', /ready (\d+)/))[1]);
      expect(await get(port, '/exec?n=3&arg=/usr/bin/true')).toEqual({ codes: [-9], killed: 3 });
      agent.child.kill('SIGTERM');
      expect(await agent.exited).toBe(143);
      await until(() => udpMsgs.length >= 3 && hec.events.length >= 3, 'deliveries');
      for (const msgs of [udpMsgs, octetFrames(tcpBuf)]) {
        expect(msgs).toHaveLength(3);
        for (const m of msgs) {
          expect(m).toMatch(/^<106>1 \S+ \S+ ltrack-agent \d+ LT-AGT-001 - CEF:0\|ltrack\|ltrack-agent\|[^|]+\|LT-AGT-001\|killed exec\|10\|/);
          expect(m).toContain('fname=/usr/bin/true');
        }
      }
      expect(hec.events.map((e) => [e.ruleId, e.action, e.event.path])).toEqual(Array.from({ length: 3 }, () => ['LT-AGT-001', 'killed', '/usr/bin/true']));
      expect(hec.state.badToken).toBe(0);
      expect(agent.stderr() + agent.stdout()).not.toContain(token);
    } finally {
      udp.close();
      tcp.close();
      await hec.close();
    }
  });

  it('with the HEC receiver down the agent keeps enforcing, the queue caps and drops are counted; delivery resumes when it is back', async () => {
    const hec = await hecReceiver();
    hec.state.up = false;
    const agent = startLtrack([
      ...held(),
      '--hec',
      `http://127.0.0.1:${hec.port}`,
      '--hec-token-file',
      join(work, 'token'),
      '--export-queue',
      '5',
      '--metrics',
      '127.0.0.1:0',
      '--',
      PYTHON,
      SERVER,
      join(models, 'model.npy'),
    ]);
    try {
      const metricsUrl = (await agent.waitFor('stderr', /metrics on (\S+)/))[1]!;
      const port = Number((await agent.waitFor('stdout', /ready (\d+)/))[1]);
      expect(await get(port, '/exec?n=20&arg=/usr/bin/true')).toEqual({ codes: [-9], killed: 20 }); // enforcement does not wait for the exporter
      const metric = async (name: string) => Number(new RegExp(`^${name}\\{exporter="hec"\\} (\\d+)`, 'm').exec(await (await fetch(metricsUrl)).text())?.[1] ?? -1);
      await until(async () => (await metric('ltrack_agent_exporter_dropped_total')) === 15, '15 dropped');
      expect(await metric('ltrack_agent_exporter_queue_depth')).toBe(5);
      await until(async () => (await metric('ltrack_agent_exporter_failures_total')) > 0, 'a failed delivery counted');
      hec.state.up = true;
      await until(() => hec.events.length === 5, 'the 5 queued actions delivered');
      expect(await get(port, '/exec?arg=/usr/bin/true')).toEqual({ codes: [-9], killed: 1 });
      await until(() => hec.events.length === 6, 'the next action delivered');
      agent.child.kill('SIGTERM');
      expect(await agent.exited).toBe(143);
    } finally {
      await hec.close();
    }
  });

  it('with the TCP syslog receiver down the agent keeps enforcing, the queue caps and drops are counted; delivery resumes when it is back', async () => {
    // the receiver's port, held by nobody until the receiver comes up
    const probe = createTcpServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const syslogPort = (probe.address() as { port: number }).port;
    await new Promise((r) => probe.close(r));
    const agent = startLtrack([...held(), '--cef', `tcp://127.0.0.1:${syslogPort}`, '--export-queue', '5', '--metrics', '127.0.0.1:0', '--', PYTHON, SERVER, join(models, 'model.npy')]);
    let received = '';
    const receiver = createTcpServer((s) => s.on('data', (d) => (received += d.toString())));
    try {
      const metricsUrl = (await agent.waitFor('stderr', /metrics on (\S+)/))[1]!;
      const port = Number((await agent.waitFor('stdout', /ready (\d+)/))[1]);
      expect(await get(port, '/exec?n=20&arg=/usr/bin/true')).toEqual({ codes: [-9], killed: 20 }); // enforcement does not wait for the exporter
      const metric = async (name: string) => Number(new RegExp(`^${name}\\{exporter="cef:tcp"\\} (\\d+)`, 'm').exec(await (await fetch(metricsUrl)).text())?.[1] ?? -1);
      await until(async () => (await metric('ltrack_agent_exporter_dropped_total')) === 15, '15 dropped');
      expect(await metric('ltrack_agent_exporter_queue_depth')).toBe(5);
      expect(await metric('ltrack_agent_exporter_failures_total')).toBeGreaterThan(0); // the refused connections
      await new Promise<void>((r) => receiver.listen(syslogPort, '127.0.0.1', r));
      await until(() => octetFrames(received).length === 5, 'the 5 queued actions delivered on reconnect');
      expect(await get(port, '/exec?arg=/usr/bin/true')).toEqual({ codes: [-9], killed: 1 });
      await until(() => octetFrames(received).length === 6, 'the next action delivered');
      for (const f of octetFrames(received)) expect(f).toContain('fname=/usr/bin/true');
      agent.child.kill('SIGTERM');
      expect(await agent.exited).toBe(143);
    } finally {
      receiver.close();
    }
  });

  it('CEF over TLS: delivered to a receiver whose certificate chains to --cef-ca, never to one it does not', async () => {
    const dir = join(work, 'tls');
    await mkdir(dir);
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
      '-days',
      '1',
      '-subj',
      '/CN=syslog.test',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ]);
    let received = '';
    const tls = createTlsServer({ key: await readFile(join(dir, 'key.pem')), cert: await readFile(join(dir, 'cert.pem')) }, (s) => s.on('data', (d: Buffer) => (received += d.toString())));
    await new Promise<void>((r) => tls.listen(0, '127.0.0.1', r));
    const target = `tls://127.0.0.1:${(tls.address() as { port: number }).port}`;
    const common = held();
    try {
      // trusted: the frame arrives
      const agent = startLtrack([...common, '--cef', target, '--cef-ca', join(dir, 'cert.pem'), '--', PYTHON, SERVER, join(models, 'model.npy')]);
      const port = Number((await agent.waitFor('stdout', /ready (\d+)/))[1]);
      expect(await get(port, '/exec?arg=/usr/bin/true')).toEqual({ codes: [-9], killed: 1 });
      await until(() => /^\d+ <106>1 .* LT-AGT-001 - CEF:0\|/.test(received), 'the frame over TLS');
      agent.child.kill('SIGTERM');
      expect(await agent.exited).toBe(143);
      // not trusted (the system's CAs do not know this certificate): nothing is sent, failures counted
      received = '';
      const untrusting = startLtrack([...common, '--cef', target, '--metrics', '127.0.0.1:0', '--', PYTHON, SERVER, join(models, 'model.npy')]);
      const metricsUrl = (await untrusting.waitFor('stderr', /metrics on (\S+)/))[1]!;
      const port2 = Number((await untrusting.waitFor('stdout', /ready (\d+)/))[1]);
      expect(await get(port2, '/exec?arg=/usr/bin/true')).toEqual({ codes: [-9], killed: 1 });
      const failures = async () => Number(/^ltrack_agent_exporter_failures_total\{exporter="cef:tls"\} (\d+)/m.exec(await (await fetch(metricsUrl)).text())?.[1] ?? 0);
      await until(async () => (await failures()) > 0, 'a refused TLS connection counted');
      untrusting.child.kill('SIGTERM');
      expect(await untrusting.exited).toBe(143);
      expect(received).toBe('');
    } finally {
      tls.close();
    }
  });
});
