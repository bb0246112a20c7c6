/**
 * The format names: what the static engine calls a file's content (the report's `targets[].format`),
 * and the key the sandbox harness picks a loader by (sandbox/lth/loaders.py `LOADERS`). One list,
 * so a name the sniffer produces and a loader the plan asks for cannot drift apart;
 * test/static/format-names.test.ts checks loaders.py's keys against LOADABLE_FORMATS with the
 * image's python.
 */
export const FORMATS = [
  // pickle streams and what their imports show them to be
  'pickle',
  'joblib',
  'torch-legacy',
  // containers recognised by their members
  'torch-zip',
  'torch-tar',
  'npz',
  'keras',
  'zip',
  'tar',
  '7z',
  // compressed streams whose content is not a joblib pickle
  'gzip',
  'zlib',
  'bz2',
  'xz',
  'lzma',
  // the rest, by content
  'npy',
  'safetensors',
  'onnx',
  'keras-h5',
  'hdf5',
  'gguf',
  'text',
  'unknown',
] as const;
export type Format = (typeof FORMATS)[number];

/**
 * The formats the sandbox loads with a real loader, exactly the keys of loaders.py's LOADERS. A
 * format added here needs its loader there under the same name, and the reverse.
 */
export const LOADABLE_FORMATS = [
  'pickle',
  'joblib',
  'torch-legacy',
  'torch-zip',
  'torch-tar',
  'npz',
  'keras',
  'npy',
  'safetensors',
  'onnx',
  'keras-h5',
] as const satisfies readonly Format[];
export type LoadableFormat = (typeof LOADABLE_FORMATS)[number];

export function isLoadable(format: Format): format is LoadableFormat {
  return (LOADABLE_FORMATS as readonly Format[]).includes(format);
}
