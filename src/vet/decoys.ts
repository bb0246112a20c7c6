import type { TraceEvent } from '../core/event.js';
import type { DecoyIdentity } from '../core/decoys.js';

/**
 * Marks every successful open of a planted decoy secret, recognised by the file's identity (inode
 * and device from the kernel's struct file) rather than its path: a hard link, a renamed folder,
 * another mount of the same file or /proc/<pid>/root/... all reach the same inode. Rules then match
 * the `decoy` field (LT-FILE-001). Returns how many events were marked.
 */
export function markDecoys(events: TraceEvent[], decoys: readonly DecoyIdentity[]): number {
  const byId = new Map(decoys.map((d) => [identity(d.dev, d.inode), d.path]));
  let marked = 0;
  for (const e of events) {
    if (e.kind !== 'file_open' || e.inode === undefined || e.dev === undefined) continue;
    const path = byId.get(identity(e.dev, e.inode));
    if (path === undefined) continue;
    e.decoy = path;
    marked++;
  }
  return marked;
}

const identity = (dev: number, inode: number): string => `${dev}:${inode}`;
