import type { TargetFile } from '../report/schema.js';

/** Formats the sandbox harness has a real loader for (sandbox/lth/loaders.py). */
const LOADABLE = new Set(['pickle', 'torch-zip', 'torch-legacy', 'torch-tar', 'npy', 'npz', 'joblib', 'dill', 'cloudpickle', 'onnx', 'safetensors', 'keras-h5', 'keras']);

/** The model files of a vet that the sandbox loads, each with the loader its sniffed format needs. */
export function loadablePlanModels(targets: TargetFile[]): { hostPath: string; format: string }[] {
  return targets.filter((t) => LOADABLE.has(t.format)).map((t) => ({ hostPath: t.path, format: t.format }));
}
