import { describe, expect, it } from 'vitest';
import { cgroupLayout } from '../../src/core/cgroup-layout.js';
import { loadAddon } from '../../src/trace/addon.js';
import { GATE, PYTHON, spawnGated } from './helpers.js';

/** lt_traced's max_entries (bpf/common.bpf.h) */
const TREE_CAPACITY = 65536;
/** tgids above the kernel's PID_MAX_LIMIT (4194304): never a real process */
const FAKE_TGID = 0x40000000;

/** A traced Python that forks one child (which exits at once) and waits for it. */
async function forkOnce(fillTree: boolean): Promise<number> {
  const addon = loadAddon();
  const h = addon.open({ ringBytes: 1 << 16, kindMask: 0xffff, wakeupBytes: 1 << 14, cgroupHooks: 0, aggregateMs: 0, cgroupRoot: (await cgroupLayout()).v2Root ?? '' });
  try {
    const g = spawnGated(PYTHON, ['-c', `${GATE}import os\npid = os.fork()\nif pid == 0:\n    os._exit(0)\nos.waitpid(pid, 0)\n`]);
    addon.addPid(h, g.pid);
    if (fillTree) {
      // every other slot of the tree taken, as a payload forking without end would take them
      const key = Buffer.alloc(4);
      for (let i = 0; i < TREE_CAPACITY; i++) {
        key.writeUInt32LE(FAKE_TGID + i);
        try {
          addon.update(h, 'lt_traced', key, Buffer.from([1]));
        } catch {
          break; // full
        }
      }
    }
    g.release();
    expect(await g.exited).toBe(0);
    return addon.lostForks(h);
  } finally {
    addon.close(h);
  }
}

describe('children the kernel could not add to the traced tree', () => {
  it('are counted (lt_lost_forks), so the vet can say what it did not follow', async () => {
    expect(await forkOnce(false)).toBe(0);
    expect(await forkOnce(true)).toBe(1);
  });
});
