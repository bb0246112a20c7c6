/**
 * The format names: what the static engine calls a file's content (the report's `targets[].format`),
 * and the key the sandbox harness picks a loader by (sandbox/lth/loaders.py `LOADERS`). One list,
 * so a name the sniffer produces and a loader the plan asks for cannot drift apart;
 * test/static/format-names.test.ts checks loaders.py's keys against LOADABLE_FORMATS with the
 * image's python.
 */

/**
 * The formats the sandbox loads with a real loader, exactly the keys of loaders.py's LOADERS. A
 * format added here needs its loader there under the same name, and the reverse.
 */
export const LOADABLE_FORMATS = [
  // pickle streams, named by what their imports show them to be
  'pickle',
  'joblib',
  'torch-legacy',
  // containers recognised by their members
  'torch-zip',
  'torch-tar',
  'npz',
  'keras',
  // by content
  'npy',
  'safetensors',
  'onnx',
  'keras-h5',
  // a plain HDF5 data file, read with h5py as data (never through Keras)
  'hdf5',
  // chat templates, loaded by rendering them (sandbox/lth/templates.py)
  'gguf',
  'tokenizer-config',
  'chat-template',
] as const;
export type LoadableFormat = (typeof LOADABLE_FORMATS)[number];

/**
 * Content the sandbox has no loader for: plain containers, compressed streams whose content is no
 * joblib pickle, other data; `onnx-external-data` is headerless bytes an ONNX model of the same
 * candidate names as its tensors' external data (read by onnx.load as raw tensor values, no code).
 */
const UNLOADED_FORMATS = ['zip', 'tar', '7z', 'gzip', 'zlib', 'bz2', 'xz', 'lzma', 'lz4', 'joblib-zfile', 'onnx-external-data', 'text', 'unknown'] as const;

export const FORMATS = [...LOADABLE_FORMATS, ...UNLOADED_FORMATS] as const;
export type Format = (typeof FORMATS)[number];

export function isLoadable(format: Format): format is LoadableFormat {
  return (LOADABLE_FORMATS as readonly Format[]).includes(format);
}
