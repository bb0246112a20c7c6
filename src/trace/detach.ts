import { spawn } from 'node:child_process';

/**
 * Detaching a syscall tracepoint waits for a kernel grace period, and the kernel does them one
 * after another (perf_trace_event_unreg → tracepoint_synchronize_unregister, ~40 ms each here):
 * the tracer's 39 of them cost ~1.5 s at the end of every vet, threads or not (measured with
 * strace). Nothing a vet reports waits on it: the ring is drained, and close() disables every
 * event. So before close(), a child inherits the link descriptors: this process's close is then not
 * the last reference, and the unregister is done when the child exits — when this process closes
 * the child's stdin, or exits. Until then the programs are attached but disabled, or (the raw
 * tracepoints and socket hooks) filtering for targets that are gone.
 * Returns the child's pid, what lets it go, and when it has exited; a child that cannot be started
 * leaves the slow close to this process.
 */
export function handOffDetach(fds: number[]): { pid: number | undefined; letGo(): void; exited: Promise<void> } {
  const none = { pid: undefined, letGo: () => undefined, exited: Promise.resolve() };
  if (fds.length === 0) return none;
  try {
    const child = spawn('/bin/sh', ['-c', 'read -r _'], { stdio: ['pipe', 'ignore', 'ignore', ...fds], detached: true });
    const exited = new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', () => resolve());
    });
    child.unref();
    return { pid: child.pid, letGo: () => child.stdin?.end(), exited };
  } catch {
    return none;
  }
}
