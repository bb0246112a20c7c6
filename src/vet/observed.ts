import type { TraceEvent } from '../core/event.js';
import type { ObservedBehavior } from '../core/report.js';

// open(2) flag bits (asm-generic/fcntl.h): an open is a write when its access mode is not
// O_RDONLY or when it may create or truncate the file.
const O_ACCMODE = 0o3;
const O_CREAT = 0o100;
const O_TRUNC = 0o1000;

// errnos by which the kernel or the sandbox refuses a network operation (EPERM from a cgroup hook,
// EACCES, ENETUNREACH in a namespace without routes); ECONNREFUSED only means nobody listened.
const REFUSALS = new Set([1, 13, 101]);

export function isWriteOpen(flags: number): boolean {
  return (flags & O_ACCMODE) !== 0 || (flags & (O_CREAT | O_TRUNC)) !== 0;
}

/**
 * What the candidate did, summarised from kernel events for the report and the allowlist manifest:
 * successful opens split into read and written, libraries mapped executable, programs executed
 * and network operations. Lists are de-duplicated and sorted so reports are stable across runs.
 */
export function summarise(events: TraceEvent[], packages: ObservedBehavior['packages'] = []): ObservedBehavior {
  const read = new Set<string>();
  const written = new Set<string>();
  const libraries = new Set<string>();
  const exec = new Map<string, ObservedBehavior['exec'][number]>();
  const network = new Map<string, ObservedBehavior['network'][number]>();

  for (const e of events) {
    switch (e.kind) {
      case 'file_open':
        if (e.path === undefined || (e.ret ?? 0) < 0) break;
        (isWriteOpen(e.flags ?? 0) ? written : read).add(e.path);
        break;
      case 'mmap_exec':
        if (e.path !== undefined) libraries.add(e.path);
        break;
      case 'exec': {
        const argv = e.argv ?? [];
        const key = `${e.path}\0${argv.join('\0')}`;
        if (e.path !== undefined && !exec.has(key)) exec.set(key, { path: e.path, argv, ...(e.phase ? { phase: e.phase } : {}) });
        break;
      }
      case 'connect':
      case 'bind':
      case 'sendmsg':
      case 'sendfile': {
        const entry = {
          kind: e.kind,
          family: e.family ?? 'other',
          addr: e.addr ?? e.path ?? '',
          port: e.port ?? 0,
          ...(e.phase ? { phase: e.phase } : {}),
          denied: e.enforced === 'denied' || REFUSALS.has(-(e.ret ?? 0)),
        };
        network.set(`${entry.kind} ${entry.family} ${entry.addr} ${entry.port} ${entry.phase ?? ''}`, entry);
        break;
      }
      default:
        break;
    }
  }
  return {
    filesRead: [...read].sort(),
    filesWritten: [...written].sort(),
    librariesMapped: [...libraries].sort().map((path) => ({ path })),
    exec: [...exec.values()],
    network: [...network.values()],
    packages: [...packages].sort((a, b) => a.name.localeCompare(b.name)),
  };
}
