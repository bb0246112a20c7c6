import type { TraceEvent } from '../core/event.js';
import { SANDBOX_LAYOUT } from '../core/sandbox-layout.js';
import type { Report } from '../core/report.js';

type LoaderStack = NonNullable<Report['stats']['loaders']>;

/** The loader libraries a lock can pin, by pip name, with the module folder they import as. */
const LOADER_MODULES: Readonly<Partial<Record<string, string>>> = {
  torch: 'torch',
  numpy: 'numpy',
  scipy: 'scipy',
  'scikit-learn': 'sklearn',
  joblib: 'joblib',
  dill: 'dill',
  cloudpickle: 'cloudpickle',
  safetensors: 'safetensors',
  onnx: 'onnx',
  h5py: 'h5py',
};

const normalise = (name: string) => name.toLowerCase().replace(/[-_.]+/g, '-');

/**
 * The loader stack a vet ran: the image's Python/torch/numpy, and the loader libraries --deps
 * installed over them. Which copy of a library was used is the kernel's word, not the sandbox's: a
 * library counts as loaded from the lock when the tracer saw its package's `__init__` (source or
 * cached bytecode) opened under the install prefix. Only the version number comes from the install's own package list (the
 * candidate could forge it, but not make a copy it never imported look used). torch and numpy name
 * the version that ran: the lock's when its copy was the one imported.
 */
export function loaderStack(
  image: { tag: string; python?: string; torch?: string; numpy?: string },
  installed: readonly { name: string; version: string }[],
  events: readonly TraceEvent[],
): LoaderStack {
  const opened = importedFromPrefix(events);
  const fromDeps = installed.flatMap(({ name, version }) => {
    const module = LOADER_MODULES[normalise(name)];
    return module ? [{ name, version, loaded: opened.has(module) }] : [];
  });
  const used = (pip: string, imageVersion: string | undefined) => fromDeps.find((p) => normalise(p.name) === pip && p.loaded)?.version ?? imageVersion;
  const torch = used('torch', image.torch);
  const numpy = used('numpy', image.numpy);
  return {
    image: image.tag,
    ...(image.python ? { python: image.python } : {}),
    ...(torch ? { torch } : {}),
    ...(numpy ? { numpy } : {}),
    fromDeps,
  };
}

/** Top-level packages whose `__init__` module the kernel saw opened from the install prefix's site folders. */
function importedFromPrefix(events: readonly TraceEvent[]): Set<string> {
  const prefix = `${SANDBOX_LAYOUT.installPrefix}/`;
  const init = /\/(?:site|dist)-packages\/([A-Za-z0-9_]+)\/(?:__pycache__\/)?__init__(?:\.[\w-]+)?\.pyc?$/;
  const found = new Set<string>();
  for (const e of events) {
    if (e.kind !== 'file_open' || !e.path?.startsWith(prefix) || (e.ret ?? 0) < 0) continue;
    const pkg = init.exec(e.path)?.[1];
    if (pkg) found.add(pkg);
  }
  return found;
}
