import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { imageLoaderVersions, requireImage } from '../../src/sandbox/index.js';

describe('the loader versions a vet reports', () => {
  it('reads installed python3, torch and numpy from a dpkg database, skipping removed packages', async () => {
    const root = mkdtempSync(join(tmpdir(), 'ltrack-dpkg-'));
    mkdirSync(join(root, 'var/lib/dpkg'), { recursive: true });
    writeFileSync(
      join(root, 'var/lib/dpkg/status'),
      [
        'Package: python3\nStatus: install ok installed\nVersion: 3.13.5-1',
        'Package: python3-torch\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.6.0+dfsg-7',
        'Package: python3-numpy\nStatus: deinstall ok config-files\nVersion: 1:2.2.4+ds-1',
      ].join('\n\n') + '\n',
    );
    expect(await imageLoaderVersions(root)).toEqual({ python: '3.13.5-1', torch: '2.6.0+dfsg-7' });
    expect(await imageLoaderVersions(join(root, 'missing'))).toEqual({});
  });

  it("names the sandbox image's own stack: Python 3.13 with torch 2.6, which can memory-map checkpoints", async () => {
    const { rootfs } = await requireImage('bwrap');
    const v = await imageLoaderVersions(rootfs);
    expect(v.python).toMatch(/^3\.13\./);
    expect(v.torch).toMatch(/^2\.6\./);
    expect(v.numpy).toMatch(/^1:2\./);
  });
});
