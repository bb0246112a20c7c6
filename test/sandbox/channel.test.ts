import { describe, expect, it } from 'vitest';
import { appendFile, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHANNEL_MAX_BYTES, followChannel, readChannel, type PhaseEdge } from '../../src/sandbox/channel.js';

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

  it('tells on stop what was written since its last poll (a phase shorter than a poll)', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'ltrack-channel-')), 'channel.jsonl');
    await writeFile(path, '');
    const seen: PhaseEdge[] = [];
    const f = followChannel(path, (e) => seen.push(e), 60_000);
    await appendFile(path, '{"kind": "phase", "ns": 2, "phase": "probe", "edge": "start"}\n{"kind": "phase", "ns": 3, "phase": "probe", "edge": "end", "ok": true}\n');
    await f.stop();
    expect(seen).toEqual([
      { phase: 'probe', edge: 'start' },
      { phase: 'probe', edge: 'end', ok: true },
    ]);
  });
});

describe('reading the phase channel (untrusted information)', () => {
  const write = async (text: string) => {
    const path = join(await mkdtemp(join(tmpdir(), 'ltrack-channel-')), 'channel.jsonl');
    await writeFile(path, text);
    return path;
  };

  it('keeps the first end record of a phase; a later forgery cannot rewrite its outcome; carries no times', async () => {
    const path = await write(
      [
        '{"kind": "go", "ns": 1}',
        '{"kind": "phase", "ns": 2, "phase": "load", "edge": "start"}',
        '{"kind": "phase", "ns": 3, "phase": "load", "edge": "end", "ok": false, "error": "ValueError: x", "detail": {"models": [{"path": "/candidate/a.pkl", "ok": false}]}}',
        '{"kind": "phase", "ns": 0, "phase": "load", "edge": "end", "ok": true, "detail": {"models": []}}',
        '{"kind": "phase", "ns": 0, "phase": "startup", "edge": "start"}',
        '[1, 2]',
        'null',
      ].join('\n'),
    );
    const { reports, truncated } = await readChannel(path);
    expect(truncated).toBe(false);
    expect(reports).toEqual([{ phase: 'load', ok: false, error: 'ValueError: x', detail: { models: [{ path: '/candidate/a.pkl', ok: false }] } }]);
    expect(JSON.stringify(reports)).not.toMatch(/Ns|"ns"/);
  });

  it('reports a phase that started and never ended as failed', async () => {
    const { reports } = await readChannel(await write('{"kind": "phase", "ns": 2, "phase": "probe", "edge": "start"}\n'));
    expect(reports).toEqual([{ phase: 'probe', ok: false, error: 'did not finish' }]);
  });

  it('reads a bounded prefix of a flooded channel', async () => {
    const line = '{"kind": "phase", "phase": "load", "edge": "start"}\n';
    const path = await write(line + 'x'.repeat(CHANNEL_MAX_BYTES) + '\n{"kind": "phase", "phase": "load", "edge": "end", "ok": true}\n');
    const { reports, truncated } = await readChannel(path);
    expect(truncated).toBe(true);
    expect(reports).toEqual([{ phase: 'load', ok: false, error: 'did not finish' }]);
  });

  it('is empty for a missing file', async () => {
    expect((await readChannel(join(tmpdir(), 'ltrack-no-such-channel.jsonl'))).reports).toEqual([]);
  });
});
