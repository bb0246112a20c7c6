import { execFile } from 'node:child_process';
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { projectPath } from '../core/paths.js';
import type { AllowedBehaviour } from './types.js';

/** The launcher that applies Landlock before exec (native/lt-confine.c, built by bootstrap). */
export const CONFINE = projectPath('native', 'build', 'lt-confine');

/** Whether Landlock can be applied here (the launcher built, the LSM enabled): its ABI version, or why not. */
export function probeLandlock(): Promise<{ ok: true; abi: number } | { ok: false; reason: string }> {
  return new Promise((resolve) => {
    execFile(CONFINE, ['--probe'], (err, stdout, stderr) => {
      if (err) resolve({ ok: false, reason: (stderr.trim() || err.message).split('\n')[0]! });
      else resolve({ ok: true, abi: Number(stdout.trim()) });
    });
  });
}

/** The ELF interpreter (PT_INTERP) of a 64-bit little-endian program, which execve opens for execution too. */
export function elfInterpreter(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const head = Buffer.alloc(4096);
    const n = readSync(fd, head, 0, head.length, 0);
    if (n < 64 || head.readUInt32BE(0) !== 0x7f454c46 || head[4] !== 2 || head[5] !== 1) return undefined;
    const phoff = Number(head.readBigUInt64LE(32));
    const phentsize = head.readUInt16LE(54);
    const phnum = head.readUInt16LE(56);
    for (let i = 0; i < phnum; i++) {
      const at = phoff + i * phentsize;
      if (at + 56 > n) return undefined;
      if (head.readUInt32LE(at) !== 3) continue; // PT_INTERP
      const off = Number(head.readBigUInt64LE(at + 8));
      const size = Number(head.readBigUInt64LE(at + 32));
      if (size < 2 || size > 4096) return undefined;
      const name = Buffer.alloc(size);
      readSync(fd, name, 0, size, off);
      return name.toString('utf8', 0, size - 1);
    }
    return undefined;
  } finally {
    closeSync(fd);
  }
}

const isDir = (p: string) => {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
};

/**
 * The launcher's command line confining `command` to the allowlists: read prefixes and files
 * readable (an exact entry that is a folder may only be listed), programs, their interpreters
 * and libraries executable. Landlock rules are on the files the paths name now.
 */
export function confinedCommand(behaviours: readonly AllowedBehaviour[], command: string[]): string[] {
  const args: string[] = [];
  const execs = new Set<string>();
  for (const b of behaviours) {
    for (const r of b.reads) args.push(r.endsWith('/') ? '-r' : isDir(r) ? '-l' : '-r', r);
    for (const e of b.exec) execs.add(e);
    for (const l of b.libraries) execs.add(l.path);
  }
  for (const e of [...execs]) {
    const interp = elfInterpreter(e);
    if (interp) execs.add(interp);
  }
  for (const e of execs) args.push('-x', e);
  return [CONFINE, ...args, '--', ...command];
}
