import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry } from 'prom-client';
import { LtrackError } from '../core/errors.js';
import { TOOL_VERSION } from '../core/version.js';
import type { AgentTelemetry, IntegrityState } from './types.js';

const INTEGRITY_STATES: IntegrityState[] = ['ok', 'changed', 'quarantined', 'missing'];

/**
 * The agent's telemetry as Prometheus metrics (prom-client), served on `--metrics ADDR:PORT` at
 * /metrics (text exposition format) with /healthz beside it. Names follow Prometheus conventions:
 * the `ltrack_agent_` prefix, `_total` counters, seconds and bytes as base units. Every method is
 * a few map operations: telemetry must never slow enforcement.
 */
export class AgentMetrics implements AgentTelemetry {
  readonly registry = new Registry();
  readonly #events: Counter;
  readonly #actions: Counter;
  readonly #kernelDrops: Counter;
  readonly #userDrops: Counter;
  readonly #tier: Gauge;
  readonly #expiry: Gauge;
  readonly #integrity: Gauge;
  readonly #exportQueue: Gauge;
  readonly #exportSent: Counter;
  readonly #exportFailures: Counter;
  readonly #exportDropped: Counter;
  readonly #exportLast = new Map<string, { sent: number; failures: number; dropped: number }>();
  #lastKernelDrops = 0;
  #lastUserDrops = 0;

  constructor() {
    const registers = [this.registry];
    // prom-client's default Node.js metrics are left out: some break Prometheus naming (promtool
    // rejects a gauge named *_total), and an operator watches the agent, not its runtime
    new Gauge({ name: 'process_start_time_seconds', help: 'Start time of the agent process since the epoch, in seconds', registers }).set(Math.round(Date.now() / 1000 - process.uptime()));
    new Gauge({ name: 'ltrack_agent_build_info', help: 'ltrack version of the running agent (always 1)', labelNames: ['version'], registers }).set({ version: TOOL_VERSION }, 1);
    this.#events = new Counter({ name: 'ltrack_agent_events_total', help: 'Kernel events received from the held processes, by kind', labelNames: ['kind'], registers });
    this.#actions = new Counter({
      name: 'ltrack_agent_actions_total',
      help: 'Actions taken (enforce) or that would have been taken (observe), by rule id and action',
      labelNames: ['rule_id', 'action', 'mode'],
      registers,
    });
    this.#kernelDrops = new Counter({ name: 'ltrack_agent_kernel_drops_total', help: 'Events the kernel could not put in the full ring buffer (enforcement in the kernel went on)', registers });
    this.#userDrops = new Counter({ name: 'ltrack_agent_user_drops_total', help: 'Events user space received but could not process', registers });
    this.#tier = new Gauge({ name: 'ltrack_agent_enforcement_tier_info', help: 'The tier each kind is enforced in (always 1; the tier is the label)', labelNames: ['kind', 'tier'], registers });
    this.#expiry = new Gauge({
      name: 'ltrack_agent_manifest_expiry_timestamp_seconds',
      help: 'Expiry of each manifest and baseline in force, seconds since the epoch',
      labelNames: ['manifest'],
      registers,
    });
    this.#exportQueue = new Gauge({ name: 'ltrack_agent_exporter_queue_depth', help: 'Actions waiting in each exporter queue', labelNames: ['exporter'], registers });
    this.#exportSent = new Counter({ name: 'ltrack_agent_exporter_sent_total', help: 'Actions delivered by each exporter', labelNames: ['exporter'], registers });
    this.#exportFailures = new Counter({ name: 'ltrack_agent_exporter_failures_total', help: 'Failed deliveries or connections of each exporter', labelNames: ['exporter'], registers });
    this.#exportDropped = new Counter({
      name: 'ltrack_agent_exporter_dropped_total',
      help: 'Actions an exporter dropped (its queue full, or undelivered at exit)',
      labelNames: ['exporter'],
      registers,
    });
    this.#integrity = new Gauge({ name: 'ltrack_agent_model_integrity_state', help: 'State of each guarded model file (1 for its current state)', labelNames: ['file', 'state'], registers });
  }

  event(kind: string, count: number): void {
    this.#events.inc({ kind }, count);
  }
  action(a: { ruleId: string; action: string; mode: string }): void {
    this.#actions.inc({ rule_id: a.ruleId, action: a.action, mode: a.mode });
  }
  drops(kernel: number, user: number): void {
    // the tracer reports cumulative figures; counters take the increase
    if (kernel > this.#lastKernelDrops) this.#kernelDrops.inc(kernel - this.#lastKernelDrops);
    if (user > this.#lastUserDrops) this.#userDrops.inc(user - this.#lastUserDrops);
    this.#lastKernelDrops = Math.max(kernel, this.#lastKernelDrops);
    this.#lastUserDrops = Math.max(user, this.#lastUserDrops);
  }
  ringFill(): void {
    // not measured by the tracer yet: nothing is exported rather than a made-up figure
  }
  tiers(tiers: Record<string, string>): void {
    this.#tier.reset();
    for (const [kind, tier] of Object.entries(tiers)) this.#tier.set({ kind, tier }, 1);
  }
  manifests(m: { path: string; expiresAt: number }[]): void {
    this.#expiry.reset();
    for (const { path, expiresAt } of m) this.#expiry.set({ manifest: path }, expiresAt);
  }
  exporter(name: string, s: { queued: number; sent: number; failures: number; dropped: number }): void {
    const last = this.#exportLast.get(name) ?? { sent: 0, failures: 0, dropped: 0 };
    this.#exportQueue.set({ exporter: name }, s.queued);
    if (s.sent > last.sent) this.#exportSent.inc({ exporter: name }, s.sent - last.sent);
    if (s.failures > last.failures) this.#exportFailures.inc({ exporter: name }, s.failures - last.failures);
    if (s.dropped > last.dropped) this.#exportDropped.inc({ exporter: name }, s.dropped - last.dropped);
    this.#exportLast.set(name, { sent: s.sent, failures: s.failures, dropped: s.dropped });
  }
  integrity(file: string, state: IntegrityState): void {
    for (const s of INTEGRITY_STATES) this.#integrity.set({ file, state: s }, s === state ? 1 : 0);
  }
}

/** `ADDR:PORT` (IPv6 in brackets) → listen arguments; port 0 picks a free one. */
function parseListen(spec: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(spec);
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw new LtrackError('usage', `--metrics wants ADDR:PORT (e.g. 127.0.0.1:9464), not ${JSON.stringify(spec)}`);
  return { host: m[1] ?? m[2]!, port };
}

/**
 * Serves /metrics and /healthz. `healthy` says whether the agent is enforcing (the tracer attached
 * and consuming): a liveness probe restarts an agent that is not.
 */
export async function serveMetrics(spec: string, metrics: AgentMetrics, healthy: () => boolean): Promise<{ url: string; close: () => Promise<void> }> {
  const { host, port } = parseListen(spec);
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end();
      return;
    }
    if (req.url === '/metrics') {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'Content-Type': metrics.registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    } else if (req.url === '/healthz') {
      const ok = healthy();
      res.writeHead(ok ? 200 : 503, { 'Content-Type': 'text/plain' }).end(ok ? 'ok\n' : 'not enforcing\n');
    } else res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new LtrackError('usage', `--metrics ${spec}: ${err.message}`, { cause: err })));
    server.listen(port, host, resolve);
  });
  const bound = server.address() as AddressInfo;
  return {
    url: `http://${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}/metrics`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
