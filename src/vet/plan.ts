import type { TargetFile } from '../report/schema.js';
import type { StagedFile } from '../intake/stage.js';

/**
 * Formats the sandbox harness has a real loader for (sandbox/lth/loaders.py). `joblib` covers its
 * compressed dumps too (zlib, gzip, bz2, xz, lzma, lz4 and the pre-0.10 `ZF` files: joblib.load
 * reads each); `hdf5` is a plain HDF5 data file read with h5py; `gguf`, `tokenizer-config` and
 * `chat-template` are loaded by rendering their chat templates (sandbox/lth/templates.py).
 */
const LOADABLE = new Set(['pickle', 'torch-zip', 'torch-legacy', 'torch-tar', 'npy', 'npz', 'joblib', 'dill', 'cloudpickle', 'onnx', 'safetensors', 'keras-h5', 'keras', 'hdf5', 'gguf', 'tokenizer-config', 'chat-template']);

/**
 * The model files of a vet that the sandbox loads, each with the loader its sniffed format needs.
 * `targets[i]` is the report entry of `staged[i]`: what is mounted is always the staged copy (the
 * bytes that were hashed and scanned), never the user's path. Copies with the same digest and
 * format (a symlink and its blob) are loaded once.
 */
export function loadablePlanModels(targets: TargetFile[], staged: StagedFile[]): PlanModel[] {
  if (targets.length !== staged.length) throw new Error('loadablePlanModels: targets and staged copies differ in number');
  const byKey = new Map<string, PlanModel>();
  targets.forEach((t, i) => {
    const key = `${t.sha256}/${t.format}`;
    if (!LOADABLE.has(t.format)) return;
    const known = byKey.get(key);
    if (known) known.reportPaths.push(t.path);
    else byKey.set(key, { hostPath: staged[i]!.staged, format: t.format, reportPaths: [t.path] });
  });
  return [...byKey.values()];
}

/** A file the sandbox loads: the staged copy, its loader, and the report paths (user paths) it stands for. */
export interface PlanModel {
  hostPath: string;
  format: string;
  reportPaths: string[];
}
