import { describe, expect, it } from 'vitest';
import { probeTiers } from '../../src/trace/index.js';

describe('probeTiers (for ltrack doctor)', () => {
  it('reports what really loads here, and BPF LSM as not available', async () => {
    const tiers = await probeTiers();
    const by = Object.fromEntries(tiers.map((t) => [t.tier, t]));
    expect(by.addon?.available).toBe(true);
    expect(by.btf?.available).toBe(true);
    expect(by['observe:tracepoints+cgroup-sock']).toMatchObject({ available: true });
    // this kernel has no module syscalls: named, not hidden
    expect(by['observe:tracepoints+cgroup-sock']?.detail).toMatch(/init_module/);
    expect(by['enforce:kill']?.available).toBe(true);
    expect(by['enforce:bpf-lsm']?.available).toBe(false);
    for (const t of tiers) expect(t.detail.length).toBeGreaterThan(0);
  });
});
