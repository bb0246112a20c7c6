import type { CgroupLayout } from '../core/cgroup-layout.js';
import { OWNER_LABEL, ownerLabelGone } from '../core/owner.js';
import { sweepRunCgroups } from './cgroup.js';
import { docker, dockerAnswers } from './docker-client.js';
import { sweepRunDirs } from './plan.js';

/** What one sweep removed, by kind. */
export interface Swept {
  containers: string[];
  cgroups: string[];
  runDirs: string[];
}

let once: Promise<Swept> | undefined;

/**
 * Removes what runs of ltrack processes that no longer exist left behind (a SIGKILL leaves no time
 * for clean-up): their containers by label, their cgroups under ltrack's parent, their run folders
 * in the temp dir. Staging areas are swept by the next staging (src/intake/stage.ts); BPF programs
 * and links are never pinned, so the kernel freed them with the dead process's descriptors. Only
 * leftovers whose owner pid is gone are touched, never a live run's. Once per process.
 */
export function sweepLeftovers(layout: CgroupLayout): Promise<Swept> {
  once ??= (async () => ({
    containers: await sweepContainers(),
    cgroups: await sweepRunCgroups(layout),
    runDirs: await sweepRunDirs(),
  }))();
  return once;
}

async function sweepContainers(): Promise<string[]> {
  if (!(await dockerAnswers())) return [];
  const list = await docker()
    .listContainers({ all: true, filters: { label: [OWNER_LABEL] } })
    .catch(() => []);
  const gone = list.filter((c) => ownerLabelGone(c.Labels[OWNER_LABEL] ?? ''));
  await Promise.all(
    gone.map((c) =>
      docker()
        .getContainer(c.Id)
        .remove({ force: true })
        .catch(() => undefined),
    ),
  );
  return gone.map((c) => c.Id);
}
