import { EVENT_KINDS, type EventKind, type TraceEvent } from '../core/event.js';
import type { Phase } from '../core/phase.js';
import { LtrackError } from '../core/errors.js';
import { BODY, FAMILIES, FLAG, HDR, OPS, XFERS } from './wire.js';

/**
 * The one decoder of the tracer's wire records (bpf/ltrack.h). A batch from the addon is records
 * back to back, each starting with struct lt_hdr whose size gives its length. Header and numeric
 * fields are read eagerly; strings (comm, path, argv, addresses) are decoded on first read, since
 * most consumers look at a small share of them (the design's "lazy path decoding").
 *
 * A decoded event is a class instance: its string fields are getters, so use `toJSON()` (or
 * JSON.stringify, which calls it) to get a plain TraceEvent before spreading it.
 */
/** What every event of one batch shares. */
interface Batch {
  readonly buf: Buffer;
  /** the same bytes as buf: DataView reads are many times faster than Buffer's readUInt32LE */
  readonly dv: DataView;
  readonly ruleIds: readonly string[];
}

/** Per kind: the body's size (where the string tail starts) and where its path length sits. */
const LAYOUT: Readonly<Record<EventKind, { body: number; pathLen?: number; argvLen?: number }>> = {
  fork: { body: BODY.lt_fork.size },
  exit: { body: BODY.lt_exit.size },
  exec: { body: BODY.lt_exec.size, pathLen: BODY.lt_exec.path_len, argvLen: BODY.lt_exec.argv_len },
  file_open: { body: BODY.lt_open.size, pathLen: BODY.lt_open.path_len },
  mmap_exec: { body: BODY.lt_mmap.size, pathLen: BODY.lt_mmap.path_len },
  connect: { body: BODY.lt_net.size, pathLen: BODY.lt_net.path_len },
  bind: { body: BODY.lt_net.size, pathLen: BODY.lt_net.path_len },
  sendmsg: { body: BODY.lt_net.size, pathLen: BODY.lt_net.path_len },
  sendfile: { body: BODY.lt_sendfile.size, pathLen: BODY.lt_sendfile.path_len },
  ptrace: { body: BODY.lt_op_ev.size, pathLen: BODY.lt_op_ev.path_len },
  setid: { body: BODY.lt_op_ev.size, pathLen: BODY.lt_op_ev.path_len },
  mount: { body: BODY.lt_op_ev.size, pathLen: BODY.lt_op_ev.path_len },
  bpf: { body: BODY.lt_op_ev.size, pathLen: BODY.lt_op_ev.path_len },
  module_load: { body: BODY.lt_op_ev.size, pathLen: BODY.lt_op_ev.path_len },
  memfd_create: { body: BODY.lt_op_ev.size, pathLen: BODY.lt_op_ev.path_len },
  io_uring: { body: BODY.lt_op_ev.size, pathLen: BODY.lt_op_ev.path_len },
};

export class WireEvent implements TraceEvent {
  readonly kind: EventKind;
  phase?: Phase;
  decoy?: string;

  // Few own fields keep construction cheap and, above all, the garbage collector's work small
  // (with seventeen fields it took 60% of the consumer's time): everything, header included, is
  // read from the batch when asked for; only the path, which rules read again and again, is kept.
  readonly #batch: Batch;
  readonly #off: number;
  #path?: string;

  constructor(batch: Batch, off: number, kind: EventKind) {
    this.#batch = batch;
    this.#off = off;
    this.kind = kind;
    const strings = this.#pathLen + this.#argvLen;
    if (this.#tail + strings > off + batch.dv.getUint32(off + HDR.recSize, true)) {
      throw new LtrackError('internal', `tracer record of kind ${kind} overruns its size (${strings} bytes of strings)`);
    }
  }

  get ts(): number {
    return u64(this.#batch.dv, this.#off + HDR.ts);
  }
  get cgroup(): number {
    return u64(this.#batch.dv, this.#off + HDR.cgroup);
  }
  get pid(): number {
    return this.#batch.dv.getUint32(this.#off + HDR.pid, true);
  }
  get tgid(): number {
    return this.#batch.dv.getUint32(this.#off + HDR.tgid, true);
  }
  get ppid(): number {
    return this.#batch.dv.getUint32(this.#off + HDR.ppid, true);
  }
  get uid(): number {
    return this.#batch.dv.getUint32(this.#off + HDR.uid, true);
  }
  get mntns(): number {
    return this.#batch.dv.getUint32(this.#off + HDR.mntns, true);
  }
  get count(): number {
    return this.#batch.dv.getUint32(this.#off + HDR.count, true);
  }
  get #hflags(): number {
    return this.#batch.dv.getUint16(this.#off + HDR.flags, true);
  }
  get #dv(): DataView {
    return this.#batch.dv;
  }
  get #buf(): Buffer {
    return this.#batch.buf;
  }
  /** start of the string tail: path, then (exec) argv */
  get #tail(): number {
    return this.#off + HDR.size + LAYOUT[this.kind].body;
  }
  get #pathLen(): number {
    const at = LAYOUT[this.kind].pathLen;
    return at === undefined ? 0 : this.#batch.dv.getUint16(this.#off + HDR.size + at, true);
  }
  get #argvLen(): number {
    const at = LAYOUT[this.kind].argvLen;
    return at === undefined ? 0 : this.#batch.dv.getUint16(this.#off + HDR.size + at, true);
  }

  /** offset of the kind's body */
  get #b(): number {
    return this.#off + HDR.size;
  }

  get comm(): string {
    const start = this.#off + HDR.comm;
    const nul = this.#buf.indexOf(0, start);
    const end = nul < 0 || nul > start + HDR.commLen ? start + HDR.commLen : nul;
    return this.#buf.toString('utf8', start, end);
  }

  get truncated(): boolean | undefined {
    return this.#hflags & FLAG.truncated ? true : undefined;
  }
  get pathUnresolved(): boolean | undefined {
    return this.#hflags & FLAG.unresolved ? true : undefined;
  }
  /** file_open of a guarded model file (the agent's integrity watch) */
  get guarded(): boolean | undefined {
    return this.#hflags & FLAG.guard ? true : undefined;
  }
  get enforced(): 'denied' | 'killed' | undefined {
    if (this.#hflags & FLAG.killed) return 'killed';
    return this.#hflags & FLAG.denied ? 'denied' : undefined;
  }

  /** open flags (file_open), prot (mmap_exec) */
  get flags(): number | undefined {
    if (this.kind === 'file_open') return this.#dv.getUint32(this.#b + BODY.lt_open.flags, true);
    if (this.kind === 'mmap_exec') return this.#dv.getUint32(this.#b + BODY.lt_mmap.prot, true);
    return undefined;
  }
  get ret(): number | undefined {
    if (this.kind === 'file_open') return this.#dv.getInt32(this.#b + BODY.lt_open.ret, true);
    if (this.family !== undefined) return this.#dv.getInt32(this.#b + BODY.lt_net.ret, true);
    return undefined;
  }
  get childTgid(): number | undefined {
    return this.kind === 'fork' ? this.#dv.getUint32(this.#b + BODY.lt_fork.child_tgid, true) : undefined;
  }
  get exitCode(): number | undefined {
    return this.kind === 'exit' ? this.#dv.getInt32(this.#b + BODY.lt_exit.exit_code, true) : undefined;
  }
  get family(): 'inet' | 'inet6' | 'unix' | 'other' | undefined {
    if (this.kind !== 'connect' && this.kind !== 'bind' && this.kind !== 'sendmsg') return undefined;
    return FAMILIES[this.#dv.getUint16(this.#b + BODY.lt_net.family, true)] ?? 'other';
  }
  get port(): number | undefined {
    const f = this.family;
    return f === 'inet' || f === 'inet6' ? this.#dv.getUint16(this.#b + BODY.lt_net.port, true) : undefined;
  }
  get bytes(): number | undefined {
    return this.kind === 'sendfile' ? u64(this.#dv, this.#b + BODY.lt_sendfile.bytes) : undefined;
  }
  /** mmap_exec, and file_open when it succeeded: the file's identity (kernel s_dev encoding). */
  get inode(): number | undefined {
    if (this.kind === 'mmap_exec') return u64(this.#dv, this.#b + BODY.lt_mmap.inode);
    if (this.kind !== 'file_open') return undefined;
    const ino = u64(this.#dv, this.#b + BODY.lt_open.inode);
    return ino === 0 ? undefined : ino;
  }
  get dev(): number | undefined {
    if (this.kind === 'mmap_exec') return this.#dv.getUint32(this.#b + BODY.lt_mmap.dev, true);
    if (this.kind !== 'file_open' || this.inode === undefined) return undefined;
    return this.#dv.getUint32(this.#b + BODY.lt_open.dev, true);
  }
  /** privileged operations: the syscall; mmap_exec: 'mprotect' when mprotect added exec;
   * sendfile: 'sendfile' or 'splice'; file_open: 'rename' or 'link' when the event is a name made
   * by rename(2) or link/symlink(2) rather than an open */
  get op(): string | undefined {
    if (this.kind === 'mmap_exec') return this.#hflags & FLAG.mprotect ? 'mprotect' : undefined;
    if (this.kind === 'file_open') return this.#hflags & FLAG.rename ? 'rename' : this.#hflags & FLAG.link ? 'link' : undefined;
    if (this.kind === 'sendfile') return XFERS[this.#dv.getUint16(this.#b + BODY.lt_sendfile.via, true)] ?? 'unknown';
    if (!this.#isOp() || this.kind === 'memfd_create') return undefined;
    return OPS[this.#dv.getUint32(this.#b + BODY.lt_op_ev.op, true)] ?? 'unknown';
  }
  /** The kernel rule this event matched (file_open, exec, connect under kernel rules). */
  get ruleId(): string | undefined {
    let at: number;
    if (this.kind === 'file_open') at = BODY.lt_open.rule;
    else if (this.kind === 'exec') at = BODY.lt_exec.rule;
    else if (this.kind === 'connect') at = BODY.lt_net.rule;
    else return undefined;
    const r = this.#dv.getUint16(this.#b + at, true);
    return r === 0 ? undefined : (this.#batch.ruleIds[r - 1] ?? `kernel-rule-${r - 1}`);
  }

  get arg(): number | undefined {
    return this.#isOp() ? u64(this.#dv, this.#b + BODY.lt_op_ev.arg) : undefined;
  }

  #isOp(): boolean {
    switch (this.kind) {
      case 'ptrace':
      case 'setid':
      case 'mount':
      case 'bpf':
      case 'module_load':
      case 'memfd_create':
      case 'io_uring':
        return true;
      default:
        return false;
    }
  }

  /** Paths as seen inside the sandbox; a file_open, mmap_exec, exec or sendfile always has one. */
  get path(): string | undefined {
    if (this.#path === undefined && this.#hasPath()) {
      this.#path = this.#buf.toString('utf8', this.#tail, this.#tail + this.#pathLen);
    }
    return this.#path;
  }

  get argv(): string[] | undefined {
    if (this.kind !== 'exec') return undefined;
    const start = this.#tail + this.#pathLen;
    let text = this.#buf.toString('utf8', start, start + this.#argvLen);
    if (text.endsWith('\0')) text = text.slice(0, -1);
    return text === '' ? [] : text.split('\0');
  }

  /** connect/bind/sendmsg peer: dotted IPv4, RFC 5952-style IPv6, or the unix socket path. */
  get addr(): string | undefined {
    const a = this.#b + BODY.lt_net.addr;
    switch (this.family) {
      case undefined:
      case 'other':
        return undefined;
      case 'inet':
        return `${this.#buf[a]}.${this.#buf[a + 1]}.${this.#buf[a + 2]}.${this.#buf[a + 3]}`;
      case 'inet6':
        return formatIpv6(this.#buf.subarray(a, a + 16));
      case 'unix':
        return this.#buf.toString('utf8', this.#tail, this.#tail + this.#pathLen);
    }
  }

  #hasPath(): boolean {
    switch (this.kind) {
      case 'exec':
      case 'file_open':
      case 'mmap_exec':
      case 'sendfile':
        return true;
      case 'memfd_create':
      case 'mount':
      case 'module_load':
        return this.#pathLen > 0;
      default:
        return false;
    }
  }

  /** A plain TraceEvent with every field decoded (what JSON.stringify writes). */
  toJSON(): TraceEvent {
    const out: TraceEvent = {
      ts: this.ts,
      kind: this.kind,
      pid: this.pid,
      tgid: this.tgid,
      ppid: this.ppid,
      uid: this.uid,
      cgroup: this.cgroup,
      mntns: this.mntns,
      comm: this.comm,
      count: this.count,
    };
    const optional = {
      phase: this.phase,
      path: this.path,
      decoy: this.decoy,
      pathUnresolved: this.pathUnresolved,
      truncated: this.truncated,
      flags: this.flags,
      ret: this.ret,
      argv: this.argv,
      childTgid: this.childTgid,
      exitCode: this.exitCode,
      family: this.family,
      addr: this.addr,
      port: this.port,
      bytes: this.bytes,
      inode: this.inode,
      dev: this.dev,
      op: this.op,
      arg: this.arg,
      ruleId: this.ruleId,
      enforced: this.enforced,
      guarded: this.guarded,
    };
    for (const [k, v] of Object.entries(optional)) {
      if (v !== undefined) (out as unknown as Record<string, unknown>)[k] = v;
    }
    return out;
  }
}

/** A u64 as a number without a BigInt allocation (hot path). The values stay far below 2^53
 * (ns since boot, inode and cgroup numbers, byte counts) except ptrace's request<<32|pid arg,
 * which is exact up to request 2^21. */
function u64(dv: DataView, at: number): number {
  return dv.getUint32(at, true) + dv.getUint32(at + 4, true) * 0x1_0000_0000;
}

function formatIpv6(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // collapse the longest run of zero groups (at least two) into '::'
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j === i ? i + 1 : j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/**
 * Decodes one batch. A record that does not fit its batch or names an unknown kind means the
 * C and TS layouts disagree or memory is corrupt: that is a bug, reported, never skipped.
 */
export function decodeBatch(buf: Buffer, ruleIds: readonly string[] = []): WireEvent[] {
  const out: WireEvent[] = [];
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const batch: Batch = { buf, dv, ruleIds };
  let off = 0;
  while (off < buf.length) {
    if (buf.length - off < HDR.size) throw new LtrackError('internal', `tracer batch ends inside a record header at byte ${off}`);
    const size = dv.getUint32(off + HDR.recSize, true);
    const kindValue = dv.getUint16(off + HDR.kind, true);
    const kind = EVENT_KINDS[kindValue];
    if (size < HDR.size || off + size > buf.length) throw new LtrackError('internal', `tracer record at byte ${off} has size ${size}`);
    if (kind === undefined) throw new LtrackError('internal', `tracer record at byte ${off} has unknown kind ${kindValue}`);
    out.push(new WireEvent(batch, off, kind));
    off += size;
  }
  return out;
}
