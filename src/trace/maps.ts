import { isIP } from 'node:net';
import { LtrackError } from '../core/errors.js';
import type { KernelAllowlist } from '../core/kernel-filter.js';
import { GUARD_STATE, KEYS, LIMITS, MODE } from './wire.js';

/**
 * Encoders from the allow-list contract (src/core/kernel-filter.ts) to BPF map keys (bpf/ltrack.h):
 *
 *   lt_allow_exec, lt_allow_lib_path  struct lt_path_key  256 bytes: the path's UTF-8, zero-padded.
 *                                     Paths of 256 bytes or more cannot be keys: the kernel then
 *                                     never finds them and kills (fail closed).
 *   lt_allow_lib_inode  struct lt_inode_key  u64 inode | u32 dev | u32 pad      (little endian; dev in
 *                                            the kernel encoding major << 20 | minor, as mmap_exec
 *                                            events report it, not stat()'s st_dev)
 *   lt_allow_net        struct lt_net_key    16 address bytes (IPv4 in the first 4, network
 *                                            order) | u16 family (1 inet, 2 inet6) | u16 port | u32 pad
 *
 * Example: { addr: '127.0.0.1', port: 9 } -> 7f 00 00 01 00*12 | 01 00 | 09 00 | 00 00 00 00.
 */
export interface MapEntry {
  map: string;
  key: Buffer;
  value: Buffer;
}

/** The value of allow-list entries (a u8 presence flag). */
const PRESENT = Buffer.from([1]);

export function pathKey(path: string): Buffer {
  const bytes = Buffer.from(path, 'utf8');
  if (bytes.length >= LIMITS.rulePath || bytes.includes(0) || !path.startsWith('/')) {
    throw new LtrackError('usage', `allow-list path must be absolute, without NUL and under ${LIMITS.rulePath} bytes: ${JSON.stringify(path)}`);
  }
  const key = Buffer.alloc(KEYS.lt_path_key.size);
  bytes.copy(key, KEYS.lt_path_key.path);
  return key;
}

export function inodeKey(dev: number, inode: number): Buffer {
  const key = Buffer.alloc(KEYS.lt_inode_key.size);
  key.writeBigUInt64LE(BigInt(inode), KEYS.lt_inode_key.inode);
  key.writeUInt32LE(dev, KEYS.lt_inode_key.dev);
  return key;
}

export function netKey(addr: string, port: number): Buffer {
  const version = isIP(addr);
  if (version === 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new LtrackError('usage', `allow-list peer must be an IP address and a port 0-65535: ${addr}:${port}`);
  }
  const key = Buffer.alloc(KEYS.lt_net_key.size);
  if (version === 4) {
    addr.split('.').forEach((o, i) => key.writeUInt8(Number(o), KEYS.lt_net_key.addr + i));
  } else {
    ipv6Bytes(addr).copy(key, KEYS.lt_net_key.addr);
  }
  key.writeUInt16LE(version === 4 ? 1 : 2, KEYS.lt_net_key.family);
  key.writeUInt16LE(port, KEYS.lt_net_key.port);
  return key;
}

function ipv6Bytes(addr: string): Buffer {
  const [head = '', tail] = addr.split('::');
  const parse = (s: string) => (s === '' ? [] : s.split(':'));
  const h = parse(head);
  const t = tail === undefined ? [] : parse(tail);
  const groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** Every map entry an allow list needs. */
export function allowlistEntries(a: KernelAllowlist): MapEntry[] {
  return [
    ...a.execPaths.map((p) => ({ map: 'lt_allow_exec', key: pathKey(p), value: PRESENT })),
    ...a.libraryPaths.map((p) => ({ map: 'lt_allow_lib_path', key: pathKey(p), value: PRESENT })),
    ...a.libraryInodes.map((i) => ({ map: 'lt_allow_lib_inode', key: inodeKey(i.dev, i.inode), value: PRESENT })),
    ...a.connect.map((c) => ({ map: 'lt_allow_net', key: netKey(c.addr, c.port), value: PRESENT })),
  ];
}

export type GuardState = keyof typeof GUARD_STATE;

/**
 * The integrity watch of one model file (lt_guard_path, lt_guard): its path must resolve to this
 * (device, inode), in this state. lt_guard_path's value is a struct lt_inode_key.
 */
export function guardEntries(path: string, id: { dev: number; inode: number }, state: GuardState): MapEntry[] {
  return [
    { map: 'lt_guard_path', key: pathKey(path), value: inodeKey(id.dev, id.inode) },
    { map: 'lt_guard', key: inodeKey(id.dev, id.inode), value: Buffer.from([GUARD_STATE[state]]) },
  ];
}

/** Enforce mode turns on every hook; what is allowed comes from the allow list alone. */
export const ENFORCE_BITS = MODE.killExec | MODE.killMmap | MODE.denyNet;
