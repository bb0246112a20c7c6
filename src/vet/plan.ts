import type { TargetFile } from '../report/schema.js';
import type { StagedFile } from '../intake/stage.js';

/** Formats the sandbox harness has a real loader for (sandbox/lth/loaders.py). */
const LOADABLE = new Set(['pickle', 'torch-zip', 'torch-legacy', 'torch-tar', 'npy', 'npz', 'joblib', 'dill', 'cloudpickle', 'onnx', 'safetensors', 'keras-h5', 'keras']);

/**
 * The model files of a vet that the sandbox loads, each with the loader its sniffed format needs.
 * `targets[i]` is the report entry of `staged[i]`: what is mounted is always the staged copy (the
 * bytes that were hashed and scanned), never the user's path. Copies with the same digest and
 * format (a symlink and its blob) are loaded once.
 */
export function loadablePlanModels(targets: TargetFile[], staged: StagedFile[]): { hostPath: string; format: string }[] {
  if (targets.length !== staged.length) throw new Error('loadablePlanModels: targets and staged copies differ in number');
  const seen = new Set<string>();
  const out: { hostPath: string; format: string }[] = [];
  targets.forEach((t, i) => {
    const key = `${t.sha256}/${t.format}`;
    if (!LOADABLE.has(t.format) || seen.has(key)) return;
    seen.add(key);
    out.push({ hostPath: staged[i]!.staged, format: t.format });
  });
  return out;
}
