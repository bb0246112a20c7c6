import { describe, expect, it } from 'vitest';
import { appendFile, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { followChannel, type PhaseEdge } from '../../src/sandbox/channel.js';

/** Waits for a condition the follower makes true (it polls every 10 ms); gives up after 10 s. */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !done(); i++) await new Promise((r) => setTimeout(r, 10));
}

describe('following the phase channel for progress', () => {
  it('tells each well-formed phase edge once, as it appears, and skips what is not one', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'ltrack-channel-')), 'channel.jsonl');
    await writeFile(path, '');
    const seen: PhaseEdge[] = [];
    const f = followChannel(path, (e) => seen.push(e), 10);
    await appendFile(path, '{"kind": "go", "ns": 1}\n{"kind": "phase", "ns": 2, "phase": "load", "edge": "start"}\n{"kind": "phase", "ns": 3, "phase": "lo');
    await until(() => seen.length === 1);
    // the cut line ends here; a line that is not JSON and one naming no phase come before the next edge
    await appendFile(path, 'ad", "edge": "end", "ok": true}\nnot json\n{"kind": "phase", "ns": 4, "phase": "evil", "edge": "start"}\n{"kind": "phase", "ns": 5, "phase": "probe", "edge": "start"}\n');
    await until(() => seen.length >= 3);
    await f.stop();
    expect(seen).toEqual([
      { phase: 'load', edge: 'start' },
      { phase: 'load', edge: 'end', ok: true },
      { phase: 'probe', edge: 'start' },
    ]);
  });
});
