import { EVENT_KINDS, type EventKind, type TraceEvent } from '../core/event.js';
import type { Phase } from '../core/phase.js';
import { LtrackError } from '../core/errors.js';
import { BODY, FAMILIES, FLAG, HDR, OPS } from './wire.js';

/**
 * The one decoder of the tracer's wire records (bpf/ltrack.h). A batch from the addon is records
 * back to back, each starting with struct lt_hdr whose size gives its length. Header and numeric
 * fields are read eagerly; strings (comm, path, argv, addresses) are decoded on first read, since
 * most consumers look at a small share of them (the design's "lazy path decoding").
 *
 * A decoded event is a class instance: its string fields are getters, so use `toJSON()` (or
 * JSON.stringify, which calls it) to get a plain TraceEvent before spreading it.
 */
export class WireEvent implements TraceEvent {
  readonly ts: number;
  readonly kind: EventKind;
  readonly pid: number;
  readonly tgid: number;
  readonly ppid: number;
  readonly uid: number;
  readonly cgroup: number;
  readonly mntns: number;
  readonly count: number;
  phase?: Phase;
  flags?: number;
  ret?: number;
  childTgid?: number;
  exitCode?: number;
  port?: number;
  bytes?: number;
  inode?: number;
  dev?: number;
  arg?: number;
  truncated?: boolean;
  pathUnresolved?: boolean;
  enforced?: 'denied' | 'killed';
  family?: 'inet' | 'inet6' | 'unix' | 'other';
  op?: string;

  readonly #buf: Buffer;
  /** where the string tail starts, and the lengths of its path and argv parts */
  readonly #tail: number;
  readonly #pathLen: number;
  readonly #argvLen: number;
  readonly #off: number;
  #comm?: string;
  #path?: string;
  #argv?: string[];

  constructor(buf: Buffer, off: number, kind: EventKind) {
    this.#buf = buf;
    this.#off = off;
    this.kind = kind;
    // ts and cgroup are u64; both stay far below 2^53 (ns since boot, cgroup inode numbers)
    this.ts = Number(buf.readBigUInt64LE(off + HDR.ts));
    this.cgroup = Number(buf.readBigUInt64LE(off + HDR.cgroup));
    this.pid = buf.readUInt32LE(off + HDR.pid);
    this.tgid = buf.readUInt32LE(off + HDR.tgid);
    this.ppid = buf.readUInt32LE(off + HDR.ppid);
    this.uid = buf.readUInt32LE(off + HDR.uid);
    this.mntns = buf.readUInt32LE(off + HDR.mntns);
    this.count = buf.readUInt32LE(off + HDR.count);
    const flags = buf.readUInt16LE(off + HDR.flags);
    if (flags & FLAG.truncated) this.truncated = true;
    if (flags & FLAG.unresolved) this.pathUnresolved = true;
    if (flags & FLAG.killed) this.enforced = 'killed';
    else if (flags & FLAG.denied) this.enforced = 'denied';
    const b = off + HDR.size;
    let tail = b;
    let pathLen = 0;
    let argvLen = 0;
    switch (kind) {
      case 'fork':
        this.childTgid = buf.readUInt32LE(b + BODY.lt_fork.child_tgid);
        tail += BODY.lt_fork.size;
        break;
      case 'exit':
        this.exitCode = buf.readInt32LE(b + BODY.lt_exit.exit_code);
        tail += BODY.lt_exit.size;
        break;
      case 'exec':
        pathLen = buf.readUInt16LE(b + BODY.lt_exec.path_len);
        argvLen = buf.readUInt16LE(b + BODY.lt_exec.argv_len);
        tail += BODY.lt_exec.size;
        break;
      case 'file_open':
        this.flags = buf.readUInt32LE(b + BODY.lt_open.flags);
        this.ret = buf.readInt32LE(b + BODY.lt_open.ret);
        pathLen = buf.readUInt16LE(b + BODY.lt_open.path_len);
        tail += BODY.lt_open.size;
        break;
      case 'mmap_exec':
        this.inode = Number(buf.readBigUInt64LE(b + BODY.lt_mmap.inode));
        this.dev = buf.readUInt32LE(b + BODY.lt_mmap.dev);
        this.flags = buf.readUInt32LE(b + BODY.lt_mmap.prot);
        if (flags & FLAG.mprotect) this.op = 'mprotect';
        pathLen = buf.readUInt16LE(b + BODY.lt_mmap.path_len);
        tail += BODY.lt_mmap.size;
        break;
      case 'connect':
      case 'bind':
      case 'sendmsg':
        this.ret = buf.readInt32LE(b + BODY.lt_net.ret);
        this.family = FAMILIES[buf.readUInt16LE(b + BODY.lt_net.family)] ?? 'other';
        this.port = buf.readUInt16LE(b + BODY.lt_net.port);
        pathLen = buf.readUInt16LE(b + BODY.lt_net.path_len);
        tail += BODY.lt_net.size;
        break;
      case 'sendfile':
        this.bytes = Number(buf.readBigUInt64LE(b + BODY.lt_sendfile.bytes));
        pathLen = buf.readUInt16LE(b + BODY.lt_sendfile.path_len);
        tail += BODY.lt_sendfile.size;
        break;
      case 'ptrace':
      case 'setid':
      case 'mount':
      case 'bpf':
      case 'module_load':
      case 'memfd_create':
      case 'io_uring': {
        this.arg = Number(buf.readBigUInt64LE(b + BODY.lt_op_ev.arg));
        if (kind !== 'memfd_create') this.op = OPS[buf.readUInt32LE(b + BODY.lt_op_ev.op)] ?? 'unknown';
        pathLen = buf.readUInt16LE(b + BODY.lt_op_ev.path_len);
        tail += BODY.lt_op_ev.size;
        break;
      }
    }
    const end = off + buf.readUInt32LE(off + HDR.recSize);
    if (tail + pathLen + argvLen > end) {
      throw new LtrackError('internal', `tracer record of kind ${kind} overruns its size (${pathLen}+${argvLen} bytes of strings)`);
    }
    this.#tail = tail;
    this.#pathLen = pathLen;
    this.#argvLen = argvLen;
  }

  get comm(): string {
    if (this.#comm === undefined) {
      const start = this.#off + HDR.comm;
      const nul = this.#buf.indexOf(0, start);
      const end = nul < 0 || nul > start + HDR.commLen ? start + HDR.commLen : nul;
      this.#comm = this.#buf.toString('utf8', start, end);
    }
    return this.#comm;
  }

  /** Paths as seen inside the sandbox; a file_open, mmap_exec or sendfile always has one. */
  get path(): string | undefined {
    if (this.#path === undefined && this.hasPath()) {
      this.#path = this.#buf.toString('utf8', this.#tail, this.#tail + this.#pathLen);
    }
    return this.#path;
  }

  get argv(): string[] | undefined {
    if (this.kind !== 'exec') return undefined;
    if (this.#argv === undefined) {
      const start = this.#tail + this.#pathLen;
      let text = this.#buf.toString('utf8', start, start + this.#argvLen);
      if (text.endsWith('\0')) text = text.slice(0, -1);
      this.#argv = text === '' ? [] : text.split('\0');
    }
    return this.#argv;
  }

  /** connect/bind/sendmsg peer: dotted IPv4, RFC 5952-ish IPv6, or the unix socket path. */
  get addr(): string | undefined {
    if (this.family === undefined) return undefined;
    const a = this.#off + HDR.size + BODY.lt_net.addr;
    switch (this.family) {
      case 'inet':
        return `${this.#buf[a]}.${this.#buf[a + 1]}.${this.#buf[a + 2]}.${this.#buf[a + 3]}`;
      case 'inet6':
        return formatIpv6(this.#buf.subarray(a, a + 16));
      case 'unix':
        return this.#buf.toString('utf8', this.#tail, this.#tail + this.#pathLen);
      case 'other':
        return undefined;
    }
  }

  private hasPath(): boolean {
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
      enforced: this.enforced,
    };
    for (const [k, v] of Object.entries(optional)) {
      if (v !== undefined) (out as unknown as Record<string, unknown>)[k] = v;
    }
    return out;
  }
}

function formatIpv6(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // collapse the longest run of zero groups (at least two) into '::'
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
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
export function decodeBatch(buf: Buffer): WireEvent[] {
  const out: WireEvent[] = [];
  let off = 0;
  while (off < buf.length) {
    if (buf.length - off < HDR.size) throw new LtrackError('internal', `tracer batch ends inside a record header at byte ${off}`);
    const size = buf.readUInt32LE(off + HDR.recSize);
    const kindValue = buf.readUInt16LE(off + HDR.kind);
    const kind = EVENT_KINDS[kindValue];
    if (size < HDR.size || off + size > buf.length) throw new LtrackError('internal', `tracer record at byte ${off} has size ${size}`);
    if (kind === undefined) throw new LtrackError('internal', `tracer record at byte ${off} has unknown kind ${kindValue}`);
    out.push(new WireEvent(buf, off, kind));
    off += size;
  }
  return out;
}
