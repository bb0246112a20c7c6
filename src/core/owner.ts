import { readlinkSync } from 'node:fs';

/**
 * Who owns a leftover: everything a run creates outside its own process (temp and staging
 * folders, cgroups, containers) carries the pid of the ltrack process that made it, so the next
 * start can tell a crashed run's leftovers (owner gone) from a live run's (never touched).
 */

/** Whether a process with this pid exists on this host (EPERM: it does, another user's). */
export function ownerAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return true; // not a pid of ours: never swept
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Every container ltrack creates (sandbox and sink) carries its owner under this label. */
export const OWNER_LABEL = 'dev.ltrack.owner';

/**
 * This process as a docker label value, `<pid namespace>/<pid>`: a daemon is shared by every pid
 * namespace that reaches its socket, and a pid is only meaningful inside its own namespace.
 */
export function ownerLabel(): string {
  return `${pidNamespace()}/${process.pid}`;
}

/** Whether a label made by ownerLabel names a process of this pid namespace that is gone. */
export function ownerLabelGone(label: string): boolean {
  const m = /^(.+)\/(\d+)$/.exec(label);
  return m !== null && m[1] === pidNamespace() && !ownerAlive(Number(m[2]));
}

function pidNamespace(): string {
  try {
    return readlinkSync('/proc/self/ns/pid'); // pid:[4026531836]
  } catch {
    return 'unknown';
  }
}
