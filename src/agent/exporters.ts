import { createSocket } from 'node:dgram';
import { connect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { hostname } from 'node:os';
import { gzipSync } from 'node:zlib';
import { LtrackError } from '../core/errors.js';
import { TOOL_VERSION } from '../core/version.js';
import { cefHeader, cefValue } from '../report/escape.js';
import type { ActionSink, AgentAction } from './types.js';

/** How an exporter is doing, for the metrics: what waits, what went out, what failed or was dropped. */
export interface ExporterStats {
  queued: number;
  sent: number;
  failures: number;
  dropped: number;
}
export type ExporterReport = (name: string, s: ExporterStats) => void;

/** CEF severity (0-10) of a rule id, from the rule set in force. */
export type SeverityOf = (ruleId: string) => number;

/**
 * One action as an ArcSight CEF:0 record. Header fields escape `|` and `\`, extension values `=`
 * and `\`, and both make control characters visible escapes, so a path the served process chose
 * (it can hold `|`, `=`, `\` or a newline) stays inside its own field and cannot forge another.
 */
export function actionCef(a: AgentAction, severity: number): string {
  const e = a.event;
  const ext = [
    `rt=${Date.parse(a.time)}`,
    `act=${a.action}`,
    `outcome=${a.mode}`,
    `dproc=${cefValue(e.comm)}`,
    `dpid=${e.tgid}`,
    `duid=${e.uid}`,
    ...(e.path !== undefined ? [`fname=${cefValue(e.path)}`] : []),
    ...(e.addr !== undefined ? [`dst=${cefValue(e.addr)}`] : []),
    ...(e.port !== undefined ? [`dpt=${e.port}`] : []),
    `msg=${cefValue(a.reason)}`,
    `cs1Label=manifest cs1=${cefValue(a.manifest)}`,
    `cs2Label=missing cs2=${cefValue(a.missing.join(','))}`,
    `cs3Label=kind cs3=${e.kind}`,
    ...(a.file ? [`fileHash=${cefValue(a.file.found ?? '')}`, `oldFileHash=${cefValue(a.file.expected)}`] : []),
  ];
  return `CEF:0|ltrack|ltrack-agent|${cefHeader(TOOL_VERSION)}|${cefHeader(a.ruleId)}|${cefHeader(`${a.action} ${e.kind}`)}|${severity}|${ext.join(' ')}`;
}

/**
 * RFC 5424 framing of one CEF record: facility log audit (13), severity from the CEF severity,
 * MSGID the rule id, no structured data.
 */
export function syslogFrame(cef: string, cefSeverity: number, ruleId: string, now = new Date()): string {
  const sev = cefSeverity >= 9 ? 2 : cefSeverity >= 7 ? 3 : cefSeverity >= 4 ? 4 : 6; // crit, err, warning, info
  const msgid = ruleId.replace(/[^\x21-\x7e]/g, '').slice(0, 32) || '-';
  return `<${13 * 8 + sev}>1 ${now.toISOString()} ${hostname() || '-'} ltrack-agent ${process.pid} ${msgid} - ${cef}`;
}

/** A bounded FIFO: over capacity the oldest entry goes (and is counted), never the caller's time. */
class BoundedQueue<T> {
  readonly #items: T[] = [];
  dropped = 0;
  constructor(readonly capacity: number) {}
  push(v: T): void {
    this.#items.push(v);
    if (this.#items.length > this.capacity) {
      this.#items.shift();
      this.dropped++;
    }
  }
  take(n: number): T[] {
    return this.#items.splice(0, n);
  }
  unshift(vs: T[]): void {
    this.#items.unshift(...vs);
    while (this.#items.length > this.capacity) {
      this.#items.pop();
      this.dropped++;
    }
  }
  get length(): number {
    return this.#items.length;
  }
}

const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 10_000;

function parseTarget(spec: string): { proto: 'udp' | 'tcp' | 'tls'; host: string; port: number } {
  const m = /^(udp|tcp|tls):\/\/(?:\[([0-9a-fA-F:.]+)\]|([^:/[\]]+)):(\d{1,5})\/?$/.exec(spec);
  const port = Number(m?.[4]);
  if (!m || port < 1 || port > 65535) throw new LtrackError('usage', `--cef wants udp://HOST:PORT, tcp://HOST:PORT or tls://HOST:PORT, not ${JSON.stringify(spec)}`);
  return { proto: m[1] as 'udp' | 'tcp' | 'tls', host: m[2] ?? m[3]!, port };
}

/**
 * CEF over syslog. UDP: one datagram per record, fire and forget (a lost datagram is the network's).
 * TCP: RFC 6587 octet-counted frames on one connection, reconnected with backoff; while it is down
 * records wait in a bounded queue whose overflow is counted. TLS (RFC 5425): the same frames over
 * TLS, the receiver's certificate checked against `ca` (default: the system's CAs) and its name.
 * `send` never waits and never throws.
 */
export function cefSyslogSink(spec: string, opts: { severity: SeverityOf; capacity: number; report: ExporterReport; ca?: Buffer }): ActionSink {
  const t = parseTarget(spec);
  const name = `cef:${t.proto}`;
  const stats = { sent: 0, failures: 0 };
  const queue = new BoundedQueue<string>(opts.capacity);
  const report = () => opts.report(name, { queued: queue.length, sent: stats.sent, failures: stats.failures, dropped: queue.dropped });
  const frame = (a: AgentAction) => {
    const sev = opts.severity(a.ruleId);
    return syslogFrame(actionCef(a, sev), sev, a.ruleId);
  };

  if (t.proto === 'udp') {
    const sock = createSocket(t.host.includes(':') ? 'udp6' : 'udp4');
    sock.on('error', () => stats.failures++);
    sock.unref();
    return {
      name,
      send(a) {
        sock.send(Buffer.from(frame(a)), t.port, t.host, (err) => {
          if (err) stats.failures++;
          else stats.sent++;
          report();
        });
      },
      close: () => new Promise<void>((resolve) => sock.close(() => resolve())),
    };
  }

  let sock: Socket | undefined;
  let connected = false;
  let closing = false;
  let retryMs = RETRY_MIN_MS;
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    if (!sock || !connected) return;
    for (const msg of queue.take(queue.length)) {
      const bytes = Buffer.from(msg);
      sock.write(`${bytes.length} `);
      sock.write(bytes);
      stats.sent++;
    }
    report();
  };
  const dial = () => {
    if (closing) return;
    const s =
      t.proto === 'tls' ? tlsConnect({ host: t.host, port: t.port, servername: isIP(t.host) ? undefined : t.host, ...(opts.ca ? { ca: opts.ca } : {}) }) : connect({ host: t.host, port: t.port });
    sock = s;
    s.setNoDelay(true);
    s.on(t.proto === 'tls' ? 'secureConnect' : 'connect', () => {
      connected = true;
      retryMs = RETRY_MIN_MS;
      flush();
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      connected = false;
      sock = undefined;
      if (closing) return;
      // a lost connection or a failed attempt: the queue keeps what was not written
      stats.failures++;
      report();
      timer = setTimeout(dial, retryMs);
      timer.unref();
      retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
    });
  };
  dial();
  return {
    name,
    send(a) {
      queue.push(frame(a));
      flush();
      report();
    },
    close: async () => {
      closing = true;
      clearTimeout(timer);
      flush();
      if (sock) await new Promise<void>((resolve) => sock!.end(resolve));
      queue.dropped += queue.take(queue.length).length; // never delivered
      report();
    },
  };
}

/**
 * Splunk HTTP Event Collector: actions batched (up to 100, or every second) as HEC JSON events,
 * gzip-compressed, POSTed to /services/collector/event with the token; 5xx answers and connection
 * errors are retried with backoff while new actions wait in a bounded queue (overflow counted,
 * oldest first); other answers drop the batch as a failure (a wrong token will not fix itself).
 * The token is only ever put in the Authorization header: errors name the URL and the status.
 */
export function hecSink(url: string, token: string, opts: { capacity: number; report: ExporterReport; log: (line: string) => void }): ActionSink {
  let endpoint: URL;
  try {
    endpoint = new URL('services/collector/event', url.endsWith('/') ? url : `${url}/`);
  } catch {
    throw new LtrackError('usage', `--hec wants the collector's base URL (https://HOST:8088), not ${JSON.stringify(url)}`);
  }
  if (endpoint.protocol !== 'http:' && endpoint.protocol !== 'https:') throw new LtrackError('usage', `--hec wants an http(s) URL, not ${JSON.stringify(url)}`);
  const name = 'hec';
  const queue = new BoundedQueue<string>(opts.capacity);
  const stats = { sent: 0, failures: 0 };
  const report = () => opts.report(name, { queued: queue.length, sent: stats.sent, failures: stats.failures, dropped: queue.dropped });
  const host = hostname();
  let inFlight: Promise<void> | undefined;
  let retryMs = RETRY_MIN_MS;
  let timer: NodeJS.Timeout | undefined;
  let closing = false;
  let warned = false;

  const post = async (): Promise<void> => {
    while (queue.length > 0) {
      const batch = queue.take(100);
      let status: number | undefined;
      try {
        const res = await fetch(endpoint, {
          method: 'POST',
          headers: { Authorization: `Splunk ${token}`, 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' },
          body: gzipSync(batch.join('\n')),
          signal: AbortSignal.timeout(10_000),
        });
        status = res.status;
        await res.arrayBuffer().catch(() => undefined);
      } catch {
        status = undefined;
      }
      if (status !== undefined && status >= 200 && status < 300) {
        stats.sent += batch.length;
        retryMs = RETRY_MIN_MS;
        report();
        continue;
      }
      stats.failures++;
      if (status !== undefined && status < 500 && status !== 429) {
        // refused for good (bad token, bad request): retrying would only repeat it
        if (!warned) opts.log(`ltrack agent: HEC ${endpoint.origin} refused events (HTTP ${status}); check the token and the URL`);
        warned = true;
        report();
        continue;
      }
      queue.unshift(batch);
      report();
      if (closing) return;
      await new Promise((r) => {
        timer = setTimeout(r, retryMs);
      });
      retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
    }
  };
  const kick = () => {
    inFlight ??= post().finally(() => {
      inFlight = undefined;
    });
  };
  const tick = setInterval(kick, 1000);
  tick.unref();
  return {
    name,
    send(a) {
      queue.push(JSON.stringify({ time: Date.parse(a.time) / 1000, host, source: 'ltrack-agent', sourcetype: 'ltrack:action', event: a }));
      report();
      if (queue.length >= 100) kick();
    },
    close: async () => {
      clearInterval(tick);
      closing = true;
      kick();
      // bounded wait: what cannot be delivered in a few seconds is counted as dropped
      await Promise.race([inFlight, new Promise((r) => setTimeout(r, 5000).unref())]);
      clearTimeout(timer);
      queue.dropped += queue.take(queue.length).length; // never delivered
      report();
    },
  };
}
