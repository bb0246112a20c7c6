import Docker from 'dockerode';
import type { Writable } from 'node:stream';

/** One client per process; dockerode honours DOCKER_HOST and defaults to /var/run/docker.sock. */
let client: Docker | undefined;
export function docker(): Docker {
  client ??= new Docker();
  return client;
}

/** Whether the daemon answers within a short time; `auto` and `doctor` use it, so it never throws. */
export async function dockerAnswers(timeoutMs = 2000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  const ping = docker()
    .ping()
    .then(() => true as const)
    .catch(() => false as const);
  try {
    return await Promise.race([ping, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Attaches to a created container's output (before start, or the first output is lost) and
 * demultiplexes it into two sinks; resolves `ended` when the stream is over, whichever way.
 */
export async function attachOutput(c: Docker.Container, stdout: Writable, stderr: Writable, opts: { stdin?: boolean } = {}): Promise<{ stream: NodeJS.ReadWriteStream; ended: Promise<void> }> {
  const stream = await c.attach({ stream: true, stdout: true, stderr: true, ...(opts.stdin ? { stdin: true, hijack: true } : {}) });
  const ended = new Promise<void>((resolve) => {
    stream.on('end', resolve);
    stream.on('close', resolve);
    stream.on('error', () => resolve());
  });
  docker().modem.demuxStream(stream, stdout, stderr);
  return { stream, ended };
}
