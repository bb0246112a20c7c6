import type { Detection } from '../core/finding.js';
import type { TraceEvent } from '../core/event.js';
import type { Report } from '../core/report.js';
import { DECOY_MARKER } from '../core/decoys.js';
import type { SandboxResult, SinkRecord } from '../sandbox/index.js';
import { phaseAt } from './phases.js';

type SinkCapture = NonNullable<Report['observed']['sinkhole']>[number];
const PREVIEW_CHARS = 512;

/**
 * What the network sinkhole caught, for the report (printable previews of the first bytes: the
 * report's writers mask decoy values in them like everywhere else), a finding for each capture
 * that carries a planted decoy secret — exfiltration seen whole, not just a connect attempt — and
 * a finding for each capture that no traced call explains: traffic left the sandbox by a way the
 * tracer did not see (an untraced syscall, io_uring, a gap in the hooks), so the kernel's account
 * of the run is not whole and the candidate may have dodged it on purpose.
 */
export function sinkholeFindings(sandbox: SandboxResult, events: TraceEvent[]): { captures: SinkCapture[]; detections: Detection[] } {
  const spans = [...sandbox.phases].sort((a, b) => a.startNs - b.startNs);
  const captures: SinkCapture[] = [];
  const detections: Detection[] = [];
  // The phase of a capture is the phase of the traced call that made it (the kernel's time of the
  // call: the sink's own clock reading comes later, after it was scheduled to accept); each call
  // explains one capture. A capture no traced call explains falls back to the sink's time.
  const calls = events.filter((e) => (e.kind === 'connect' || e.kind === 'sendmsg') && e.port !== undefined);
  const used = new Set<TraceEvent>();
  // One call can explain many captures (a connected UDP socket sends many queries): not consumed.
  const explained = (r: SinkRecord): boolean => (r.proto === 'dns' ? calls.some((c) => c.port === 53) : calls.some((c) => c.port === r.port && sameHost(c.addr, r.dst)));
  const callFor = (addr: string | undefined, port: number | undefined) => {
    const e = calls.find((c) => !used.has(c) && c.port === port && (addr === undefined || c.addr === addr));
    if (e) used.add(e);
    return e;
  };
  for (const r of sandbox.sinkhole ?? []) {
    const bytes = Buffer.from(r.bytes, 'base64');
    const call = r.proto === 'dns' ? callFor(undefined, 53) : callFor(r.dst, r.port);
    const phase = call?.phase ?? phaseAt(r.ts, spans);
    const capture: SinkCapture = {
      proto: r.proto,
      ...(r.dst !== undefined ? { dst: r.dst } : {}),
      ...(typeof r.port === 'number' ? { port: r.port } : {}),
      ...(r.name !== undefined ? { name: r.name } : {}),
      size: r.size,
      preview: printable(bytes),
      phase,
    };
    captures.push(capture);
    if (!explained(r)) {
      const what = r.proto === 'dns' ? `a DNS query for ${r.name ?? '?'}` : `a connection to ${r.dst ?? '?'}:${r.port ?? '?'}`;
      detections.push({
        ruleId: 'LT-NET-006',
        source: 'dynamic',
        phase,
        message: `the sinkhole captured ${what} that no traced connect or send explains: the tracer did not see how it was sent`,
        evidence: { ...capture },
      });
    }
    if (bytes.includes(DECOY_MARKER) || r.name?.toUpperCase().includes(DECOY_MARKER)) {
      const to = r.proto === 'dns' ? `a DNS query for ${r.name}` : `a connection to ${r.dst}:${r.port}`;
      detections.push({
        ruleId: 'LT-NET-005',
        source: 'dynamic',
        phase,
        message: `a planted decoy secret left the sandbox in ${to} (captured by the sinkhole)`,
        evidence: { ...capture },
      });
    }
  }
  return { captures, detections };
}

/** The sink reports IPv4 peers dotted; an IPv6 socket's connect to one is traced v4-mapped
 * (::ffff:7f00:1, or dotted after the prefix). */
function sameHost(traced: string | undefined, captured: string | undefined): boolean {
  if (traced === undefined || captured === undefined) return false;
  return unmap(traced) === unmap(captured);
}

function unmap(addr: string): string {
  const a = addr.toLowerCase();
  const dotted = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (dotted) return dotted[1]!;
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(a);
  if (!hex) return a;
  const [hi, lo] = [parseInt(hex[1]!, 16), parseInt(hex[2]!, 16)];
  return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
}

/** First bytes as text: printable ASCII kept, the rest as \xNN, cut at PREVIEW_CHARS. */
function printable(bytes: Buffer): string {
  let out = '';
  for (const b of bytes) {
    out += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
    if (out.length >= PREVIEW_CHARS) return `${out.slice(0, PREVIEW_CHARS)}…`;
  }
  return out;
}
