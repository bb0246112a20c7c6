/**
 * File names that a model loader opens by name, whatever their content: transformers opens
 * `pytorch_model.bin` (and its shards, `training_args.bin`, `optimizer.pt`, `rng_state.pth`) with
 * torch.load, scikit-learn users joblib.load `*.joblib`/`*.pkl`, Keras opens `*.h5`/`*.keras`,
 * numpy `*.npy`/`*.npz`. A file under such a name that ltrack could not analyse is exactly what
 * an attacker would hide a payload in: the verdict must not pass it.
 */
const LOADER_EXTENSIONS = new Set([
  'bin',
  'pt',
  'pth',
  'pt2',
  'ptl',
  'ckpt',
  'tar',
  'mar',
  'pkl',
  'pickle',
  'pck',
  'pcl',
  'p',
  'sav',
  'joblib',
  'jbl',
  'dill',
  'cloudpickle',
  'cpkl',
  'npy',
  'npz',
  'h5',
  'hdf5',
  'keras',
  'pb',
  'safetensors',
  'onnx',
  'gguf',
  'ggml',
  'msgpack',
  'tflite',
]);

/** True when a loader would open a file of this base name by its name alone. */
export function loaderOpensByName(baseName: string): boolean {
  const lower = baseName.toLowerCase();
  const dot = lower.lastIndexOf('.');
  if (dot <= 0) return lower === 'pytorch_model' || lower === 'model';
  return LOADER_EXTENSIONS.has(lower.slice(dot + 1));
}
