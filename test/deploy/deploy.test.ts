import { spawnSync } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../src/manifest/index.js';
import { projectPath } from '../../src/core/paths.js';
import { startLtrack } from '../agent/helpers.js';
import { CLI_BIN } from '../helpers/cli.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lt-deploy-'));
});
afterAll(async () => rm(work, { recursive: true, force: true }));

describe('deploy/systemd', () => {
  it('the agent unit passes systemd-analyze verify (with ltrack installed where it names it)', async () => {
    // the unit names /usr/local/bin/ltrack, where `npm install -g` puts it; here a shim stands there
    const shim = join(work, 'ltrack');
    await writeFile(shim, `#!/bin/sh\nexec ${process.execPath} ${CLI_BIN} "$@"\n`);
    await chmod(shim, 0o755);
    const unit = (await readFile(projectPath('deploy/systemd/ltrack-agent.service'), 'utf8')).replaceAll('/usr/local/bin/ltrack', shim);
    await writeFile(join(work, 'ltrack-agent.service'), unit);
    const r = spawnSync('systemd-analyze', ['verify', join(work, 'ltrack-agent.service')], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
  });
});

/** The metric names a PromQL expression reads: identifiers that are not functions, keywords, labels or durations. */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ') // grouping labels
    .replace(/\[[^\]]*\]/g, ' ') // ranges
    .replace(/"[^"]*"/g, ' ');
  const keywords = new Set(['by', 'without', 'and', 'or', 'unless', 'bool', 'offset', 'on', 'ignoring']);
  return [...bare.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?/g)].filter((m) => m[2] === undefined && !keywords.has(m[1]!)).map((m) => m[1]!);
}

describe('deploy/grafana', () => {
  it('every metric the dashboard queries is one a running agent exports', async () => {
    const dash = JSON.parse(await readFile(projectPath('deploy/grafana/ltrack.json'), 'utf8')) as { panels: { targets: { expr: string }[] }[] };
    const queried = new Set(dash.panels.flatMap((p) => p.targets.flatMap((t) => metricNames(t.expr))));
    expect(queried.size).toBeGreaterThan(8);

    // a live agent: a baseline recorded for `sleep`, then the agent holding a sleep with --metrics
    const key = await generateKeyPair(join(work, 'op'));
    const baseline = join(work, 'baseline.json');
    const rec = startLtrack(['agent', 'baseline', '--out', baseline, '--sign-key', key.privatePath, '--', '/usr/bin/sleep', '0.1']);
    expect(await rec.exited, rec.stderr()).toBe(0);
    const agent = startLtrack(['agent', '--baseline', baseline, '--key', key.publicPath, '--metrics', '127.0.0.1:0', '--', '/usr/bin/sleep', '30']);
    try {
      const url = (await agent.waitFor('stderr', /metrics on (\S+)/))[1]!;
      await agent.waitFor('stderr', /enforcing/);
      const exposition = await (await fetch(url)).text();
      const exported = new Set([...exposition.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
      expect([...queried].filter((n) => !exported.has(n))).toEqual([]);
    } finally {
      agent.child.kill('SIGTERM');
      await agent.exited;
    }
  });
});

describe('deploy/k8s', () => {
  it.each(['agent-daemonset.yaml', 'vet-job.yaml', 'gate.yaml'])('%s: every object validates against the Kubernetes API schemas', async (file) => {
    const { parseAllDocuments } = await import('yaml');
    const docs = parseAllDocuments(await readFile(projectPath('deploy/k8s', file), 'utf8'));
    expect(docs.length).toBeGreaterThan(0);
    for (const doc of docs) {
      expect(doc.errors).toEqual([]);
      const obj = doc.toJS() as { apiVersion: string; kind: string };
      const group = (await import(`kubernetes-models/${obj.apiVersion}`)) as Record<string, new (o: unknown) => { validate(): void }>;
      const Model = group[obj.kind];
      expect(Model, `${obj.apiVersion} ${obj.kind}`).toBeDefined();
      expect(() => new Model!(obj).validate(), obj.kind).not.toThrow();
    }
  });

  // The API schemas allow unknown fields (the API server drops them, or with --validate=strict
  // refuses them): a misspelt field would pass the test above and be silently ignored by the
  // cluster. The models' TypeScript interfaces are exact, and an object literal typed with them
  // fails to compile on any field they do not define.
  const strictCheck = async (docs: { apiVersion: string; kind: string }[]) => {
    const ts = (await import('typescript')).default;
    const file = projectPath('test/deploy/k8s-strict.generated.ts');
    const source = docs.map((o, i) => `import type { I${o.kind} as T${i} } from 'kubernetes-models/${o.apiVersion}/${o.kind}';\nexport const o${i}: T${i} = ${JSON.stringify(o)};`).join('\n');
    const options = { strict: true, noEmit: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, skipLibCheck: true, types: [] };
    const host = ts.createCompilerHost(options);
    const real = { getSourceFile: host.getSourceFile.bind(host), fileExists: host.fileExists.bind(host) };
    host.fileExists = (f) => f === file || real.fileExists(f);
    host.getSourceFile = (f, lang, ...rest) => (f === file ? ts.createSourceFile(f, source, lang) : real.getSourceFile(f, lang, ...rest));
    const program = ts.createProgram([file], options, host);
    return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n').split('\n')[0]!);
  };
  const loadDocs = async (file: string) => {
    const { parseAllDocuments } = await import('yaml');
    return parseAllDocuments(await readFile(projectPath('deploy/k8s', file), 'utf8')).map((d) => d.toJS() as { apiVersion: string; kind: string });
  };

  it.each(['agent-daemonset.yaml', 'vet-job.yaml', 'gate.yaml'])('%s: no object holds a field the Kubernetes API does not define', async (file) => {
    expect(await strictCheck(await loadDocs(file))).toEqual([]);
  });

  it('the strict check catches a misspelt field', async () => {
    const docs = await loadDocs('agent-daemonset.yaml');
    const ds = docs.find((o) => o.kind === 'DaemonSet') as unknown as { spec: { template: { spec: { containers: Record<string, unknown>[] } } } };
    ds.spec.template.spec.containers[0]!.imagePullPolicyy = 'Always';
    expect((await strictCheck(docs)).join('\n')).toContain(`'"imagePullPolicyy"' does not exist in type 'IContainer'`);
  });

  it('the gate Deployment runs gate serve with flags it has', async () => {
    const dep = (await loadDocs('gate.yaml')).find((o) => o.kind === 'Deployment') as unknown as { spec: { template: { spec: { containers: { args: string[] }[] } } } };
    const args = dep.spec.template.spec.containers[0]!.args;
    expect(args.slice(0, 2)).toEqual(['gate', 'serve']);
    const help = spawnSync(process.execPath, [CLI_BIN, 'gate', 'serve', '--help'], { encoding: 'utf8' }).stdout;
    for (const flag of args.filter((a) => a.startsWith('--')).map((a) => a.split('=')[0]!)) expect(help, flag).toContain(flag);
  });

  it('the DaemonSet runs the agent with flags the agent has', async () => {
    const { parseAllDocuments } = await import('yaml');
    const ds = parseAllDocuments(await readFile(projectPath('deploy/k8s/agent-daemonset.yaml'), 'utf8'))
      .map((d) => d.toJS() as { kind: string; spec?: { template: { spec: { containers: { args: string[] }[] } } } })
      .find((o) => o.kind === 'DaemonSet')!;
    const args = ds.spec!.template.spec.containers[0]!.args;
    const help = spawnSync(process.execPath, [CLI_BIN, 'agent', '--help'], { encoding: 'utf8' }).stdout;
    for (const flag of args.filter((a) => a.startsWith('--')).map((a) => a.split('=')[0]!)) expect(help, flag).toContain(flag);
  });
});
