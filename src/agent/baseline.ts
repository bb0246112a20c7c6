import type { KeyObject } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import type { TraceEvent } from '../core/event.js';
import type { Unchecked } from '../core/unchecked.js';
import { TOOL_VERSION } from '../core/version.js';
import { signEnvelope, verifyEnvelope } from '../manifest/dsse.js';
import { generaliseReads } from '../manifest/generalise.js';
import { sha256File } from '../manifest/hash.js';
import { INTOTO_PAYLOAD_TYPE, STATEMENT_TYPE, type Envelope } from '../manifest/types.js';
import { kernelDev } from '../trace/identity.js';
import type { AllowedBehaviour } from './types.js';

/**
 * The environment baseline: what the serving stack itself (its Python, torch, system libraries,
 * its own peers and files) does on this host, recorded by `ltrack agent baseline` while a warm-up
 * run of the server executes under an observing trace, and signed by the operator. The vet's
 * manifest cannot say this: the sandbox image's builds are not production's, so their digests
 * would never match. A new predicate type, versioned in its URI like the allowlist's.
 */
export const BASELINE_PREDICATE_TYPE = 'https://ltrack.dev/baseline/v1';

interface BaselinePredicate {
  /** The warm-up command as run, for the operator reading the file. */
  command: string[];
  host: string;
  tool: { name: 'ltrack'; version: string };
  issuedAt: string;
  expiresAt: string;
  allow: {
    exec: string[];
    /** Every library mapped executable, with the sha256 its bytes had on this host when recorded. */
    libraries: { path: string; sha256: string }[];
    network: { addr: string; port: number }[];
    reads: string[];
  };
}

export interface BaselineStatement {
  _type: typeof STATEMENT_TYPE;
  /** The program the warm-up ran (argv[0] resolved), by digest: what the baseline is about. */
  subject: { name: string; digest: { sha256: string } }[];
  predicateType: typeof BASELINE_PREDICATE_TYPE;
  predicate: BaselinePredicate;
}

const O_ACCMODE = 3;

/**
 * The baseline of a warm-up from its events. A library is hashed now, and only if the file at its
 * path is still the one the kernel saw mapped (same device and inode): a library replaced during
 * the warm-up is left out and named, never signed with bytes that did not run.
 */
export async function recordBaseline(
  events: readonly TraceEvent[],
  facts: { command: string[]; program: string; days: number; now?: Date },
): Promise<{ statement: BaselineStatement; skipped: { path: string; reason: string }[] }> {
  const exec = new Set<string>();
  const mapped = new Map<string, { dev: number; inode: number }>();
  const network = new Map<string, { addr: string; port: number }>();
  const reads = new Set<string>();
  for (const e of events) {
    if (e.kind === 'exec' && e.path) exec.add(e.path);
    else if (e.kind === 'mmap_exec' && e.path && e.inode !== undefined && e.dev !== undefined && !e.pathUnresolved) mapped.set(e.path, { dev: e.dev, inode: e.inode });
    else if ((e.kind === 'connect' || e.kind === 'sendmsg') && e.addr !== undefined && isIP(e.addr) !== 0) network.set(`${e.addr}|${e.port ?? 0}`, { addr: e.addr, port: e.port ?? 0 });
    else if (e.kind === 'file_open' && e.path && !e.pathUnresolved && (e.ret ?? 0) >= 0 && ((e.flags ?? 0) & O_ACCMODE) === 0) reads.add(e.path);
  }
  const libraries: { path: string; sha256: string }[] = [];
  const skipped: { path: string; reason: string }[] = [];
  for (const [path, seen] of [...mapped].sort(([a], [b]) => a.localeCompare(b))) {
    const now = await stat(path, { bigint: true }).catch(() => undefined);
    if (!now || kernelDev(now.dev) !== seen.dev || Number(now.ino) !== seen.inode) {
      skipped.push({ path, reason: 'replaced or removed since it was mapped' });
      continue;
    }
    libraries.push({ path, sha256: await sha256File(path) });
  }
  const now = facts.now ?? new Date();
  const statement: BaselineStatement = {
    _type: STATEMENT_TYPE,
    subject: [{ name: facts.program, digest: { sha256: await sha256File(facts.program) } }],
    predicateType: BASELINE_PREDICATE_TYPE,
    predicate: {
      command: facts.command,
      host: hostname(),
      tool: { name: 'ltrack', version: TOOL_VERSION },
      issuedAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + facts.days * 86_400_000).toISOString(),
      allow: { exec: [...exec].sort(), libraries, network: [...network.values()], reads: generaliseReads(reads) },
    },
  };
  return { statement, skipped };
}

export function signBaseline(statement: BaselineStatement, privateKey: KeyObject): Envelope {
  return signEnvelope(INTOTO_PAYLOAD_TYPE, Buffer.from(JSON.stringify(statement)), privateKey);
}

/**
 * A signed baseline as the behaviour it allows, or the reason it is refused: the envelope's
 * signature with the operator's key, the statement and predicate types, every field's shape (it is
 * only trusted once signed, but a signed file can still be from a buggy writer), the validity window.
 */
export function verifyBaseline(json: string, publicKey: KeyObject, origin: string, now = new Date()): { ok: true; behaviour: AllowedBehaviour; expiresAt: string } | { ok: false; reason: string } {
  let env: Unchecked<Envelope>;
  try {
    env = JSON.parse(json) as Unchecked<Envelope>;
  } catch {
    return { ok: false, reason: 'not JSON: not a DSSE envelope' };
  }
  if (!env || typeof env.payload !== 'string' || typeof env.payloadType !== 'string' || !Array.isArray(env.signatures) || !env.signatures.every((s) => typeof s?.sig === 'string')) {
    return { ok: false, reason: 'not a DSSE envelope' };
  }
  if (env.payloadType !== INTOTO_PAYLOAD_TYPE) return { ok: false, reason: `unsupported payload type ${JSON.stringify(env.payloadType)}` };
  const signed = verifyEnvelope(env as Envelope, publicKey);
  if (!signed.ok) return signed;
  let u: Unchecked<BaselineStatement>;
  try {
    u = JSON.parse(signed.payload.toString('utf8')) as Unchecked<BaselineStatement>;
  } catch {
    return { ok: false, reason: 'payload is not JSON' };
  }
  if (u?._type !== STATEMENT_TYPE || u.predicateType !== BASELINE_PREDICATE_TYPE) return { ok: false, reason: `not a baseline (predicate type ${JSON.stringify(u?.predicateType)})` };
  const a = u.predicate?.allow;
  const paths = (v: Unchecked<string[]>) => Array.isArray(v) && v.every((s) => typeof s === 'string' && s.startsWith('/'));
  if (
    !a ||
    !paths(a.exec) ||
    !paths(a.reads) ||
    !Array.isArray(a.libraries) ||
    !a.libraries.every((l) => typeof l?.path === 'string' && l.path.startsWith('/') && /^[0-9a-f]{64}$/.test(l.sha256 ?? '')) ||
    !Array.isArray(a.network) ||
    !a.network.every((n) => typeof n?.addr === 'string' && isIP(n.addr) !== 0 && Number.isInteger(n.port) && n.port! >= 0 && n.port! <= 65535)
  ) {
    return { ok: false, reason: 'baseline allow lists are malformed' };
  }
  const st = u as BaselineStatement;
  const allow = st.predicate.allow;
  const issued = Date.parse(st.predicate.issuedAt);
  const expires = Date.parse(st.predicate.expiresAt);
  if (Number.isNaN(issued) || Number.isNaN(expires)) return { ok: false, reason: 'issuedAt/expiresAt are not dates' };
  if (issued > now.getTime() + 300_000) return { ok: false, reason: `issued in the future (${st.predicate.issuedAt})` };
  if (expires <= now.getTime()) return { ok: false, reason: `expired at ${st.predicate.expiresAt}` };
  return {
    ok: true,
    expiresAt: st.predicate.expiresAt,
    behaviour: {
      source: 'baseline',
      origin,
      exec: allow.exec,
      libraries: allow.libraries.map((l) => ({ path: l.path, sha256: l.sha256 })),
      network: allow.network.map((n) => ({ addr: n.addr, prefix: isIP(n.addr) === 4 ? 32 : 128, port: n.port })),
      reads: allow.reads,
    },
  };
}
