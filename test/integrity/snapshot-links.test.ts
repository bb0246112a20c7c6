import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { scanPaths } from '../../src/static/index.js';

/**
 * Hugging Face cache snapshots are folders of symlinks into the repo's blobs/ (relative links,
 * sometimes through another link, in subfolders). Whatever path the user gives — the snapshot, the
 * snapshots/ folder, one linked file — every linked file's bytes are the ones analysed, under the
 * name loaders open, and a link that resolves out of the repo is a finding, never a silent skip.
 */
const work = mkdtempSync(join(tmpdir(), 'ltrack-snapshot-links-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const call = (cmd: string) => {
  const arg = Buffer.from(cmd);
  const n = Buffer.alloc(4);
  n.writeUInt32LE(arg.length);
  return Buffer.concat([Buffer.from('\x80\x02cos\nsystem\nX', 'latin1'), n, arg, Buffer.from('\x85R0}.', 'latin1')]);
};
const PAYLOAD = call('/bin/true');
const OTHER = call('touch /tmp/ltrack-canary-snapshot');
const BENIGN = Buffer.from('\x80\x02}q\x00X\x01\x00\x00\x00aK\x01s.', 'latin1');

const repo = join(work, 'hub/models--acme--tiny');
const commit = '0123456789abcdef0123456789abcdef01234567';
const snap = join(repo, 'snapshots', commit);
const blob = (data: Buffer) => {
  writeFileSync(join(repo, 'blobs', sha(data)), data);
  return sha(data);
};
mkdirSync(join(repo, 'blobs'), { recursive: true });
mkdirSync(join(snap, 'sub'), { recursive: true });
symlinkSync(`../../blobs/${blob(PAYLOAD)}`, join(snap, 'pytorch_model.bin'));
symlinkSync('pytorch_model.bin', join(snap, 'alias.pkl')); // a link to a link to the blob
symlinkSync(`../../../blobs/${blob(OTHER)}`, join(snap, 'sub', 'optimizer.pt'));
symlinkSync(`../../blobs/${blob(BENIGN)}`, join(snap, 'training_args.bin'));
// another repo's blob, and a blob that is itself a link out of the cache
const other = join(work, 'hub/models--evil--x/blobs');
mkdirSync(other, { recursive: true });
writeFileSync(join(other, 'b'), PAYLOAD);
const outside = join(work, 'secret.pkl');
writeFileSync(outside, PAYLOAD);
const escaping = join(work, 'hub/models--acme--leaky');
mkdirSync(join(escaping, 'blobs'), { recursive: true });
mkdirSync(join(escaping, 'snapshots', commit), { recursive: true });
symlinkSync(outside, join(escaping, 'blobs', 'deadbeef'));
symlinkSync('../../blobs/deadbeef', join(escaping, 'snapshots', commit, 'model.pkl'));
symlinkSync(`../../../models--evil--x/blobs/b`, join(escaping, 'snapshots', commit, 'weights.pkl'));

describe('Hugging Face snapshot files that are symlinks', () => {
  const expectAllLinkedAnalysed = (r: Awaited<ReturnType<typeof scanPaths>>, base: string) => {
    const byName = (n: string) => r.targets.find((t) => t.path === join(base, n));
    for (const [name, data] of [
      ['pytorch_model.bin', PAYLOAD],
      ['alias.pkl', PAYLOAD],
      ['sub/optimizer.pt', OTHER],
      ['training_args.bin', BENIGN],
    ] as const) {
      expect(byName(name), name).toMatchObject({ format: 'pickle', sha256: sha(data), linkTo: `blobs/${sha(data)}` });
    }
    for (const name of ['pytorch_model.bin', 'alias.pkl', 'sub/optimizer.pt']) {
      expect(
        r.detections.some((d) => d.ruleId === 'LT-PKL-001' && d.location?.file === join(base, name)),
        name,
      ).toBe(true);
    }
    expect(r.skipped).toEqual([]);
  };

  it('the snapshot folder: every link (relative, through another link, in a subfolder) resolved into blobs/ and analysed', async () => {
    expectAllLinkedAnalysed(await scanPaths([snap]), snap);
  });

  it('the snapshots/ folder (every commit): the same, the repo being the root links may resolve in', async () => {
    expectAllLinkedAnalysed(await scanPaths([join(repo, 'snapshots')]), join(repo, 'snapshots', commit));
  });

  it('one linked file given alone: its target is the file analysed', async () => {
    const r = await scanPaths([join(snap, 'alias.pkl')]);
    expect(r.targets).toEqual([expect.objectContaining({ format: 'pickle', sha256: sha(PAYLOAD) })]);
    expect(r.detections.some((d) => d.ruleId === 'LT-PKL-001')).toBe(true);
    expect(readFileSync(join(snap, 'alias.pkl')).equals(PAYLOAD)).toBe(true);
  });

  it("a link into another repo's blobs, or a blob that links out of the cache: a finding each, never a silent skip", async () => {
    const base = join(escaping, 'snapshots', commit);
    const r = await scanPaths([base]);
    const links = r.detections
      .filter((d) => d.ruleId === 'LT-LINK-001')
      .map((d) => d.location?.file)
      .sort();
    expect(links).toEqual([join(base, 'model.pkl'), join(base, 'weights.pkl')]);
    expect(r.targets).toEqual([]);
  });
});
