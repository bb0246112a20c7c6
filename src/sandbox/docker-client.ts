import Docker from 'dockerode';

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
