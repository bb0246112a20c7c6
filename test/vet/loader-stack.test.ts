import { describe, expect, it } from 'vitest';
import type { TraceEvent } from '../../src/core/event.js';
import { loaderStack } from '../../src/vet/loader-stack.js';

const open = (path: string, ret = 0): TraceEvent => ({ ts: 1, kind: 'file_open', pid: 2, tgid: 2, ppid: 1, uid: 65534, cgroup: 9, mntns: 1, comm: 'python3', count: 1, path, ret });
const image = { tag: 'ltrack-sandbox:x', python: '3.13.5-1', torch: '2.6.0+dfsg-7', numpy: '1:2.2.4+ds-1' };
const site = '/tmp/ltrack/prefix/local/lib/python3.13/dist-packages';

describe('loaderStack: which copy of a loader library ran is what the kernel saw imported', () => {
  it("names the lock's torch when the kernel saw the lock's torch imported", () => {
    const stack = loaderStack(image, [{ name: 'torch', version: '2.3.1' }], [open(`${site}/torch/__pycache__/__init__.cpython-313.pyc`)]);
    expect(stack).toEqual({ image: image.tag, python: image.python, torch: '2.3.1', numpy: image.numpy, fromDeps: [{ name: 'torch', version: '2.3.1', loaded: true }] });
  });

  it("keeps the image's version when the lock's copy was installed but never imported", () => {
    const stack = loaderStack(image, [{ name: 'torch', version: '2.3.1' }], [open('/usr/lib/python3/dist-packages/torch/__init__.py')]);
    expect(stack.torch).toBe(image.torch);
    expect(stack.fromDeps).toEqual([{ name: 'torch', version: '2.3.1', loaded: false }]);
  });

  it('ignores failed opens, opens outside the install prefix and packages that are not loaders', () => {
    const stack = loaderStack(
      image,
      [
        { name: 'NumPy', version: '1.26.4' },
        { name: 'requests', version: '2.0' },
      ],
      [open(`${site}/numpy/__init__.py`, -2), open('/home/ltrack/tmp/ltrack/prefix/numpy/__init__.py')],
    );
    expect(stack.numpy).toBe(image.numpy);
    expect(stack.fromDeps).toEqual([{ name: 'NumPy', version: '1.26.4', loaded: false }]);
  });

  it('maps pip names to their import names (scikit-learn imports as sklearn)', () => {
    const stack = loaderStack(image, [{ name: 'scikit_learn', version: '1.2.0' }], [open(`${site}/sklearn/__init__.py`)]);
    expect(stack.fromDeps).toEqual([{ name: 'scikit_learn', version: '1.2.0', loaded: true }]);
  });
});
