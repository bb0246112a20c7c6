import { loaderOpensByName } from '../intake/loader-names.js';

/** `model.onnx.data`, `model.onnx_data`, `weights.onnx.bin`: what torch.onnx.export and onnx.save name external data. */
const ONNX_DATA = /\.onnx[._-]?(data|bin|weights?)$|_data$/i;
/** `model-00001-of-00003.safetensors`, `pytorch_model-00002-of-00002.bin`: one shard of a checkpoint split by size. */
const SHARD = /(^|[-_.])\d{3,6}-of-\d{3,6}([._]|$)/i;
/** Extensions tools give raw tensor dumps (numpy's tofile, ggml-era .weight files, …). */
const RAW_TENSOR = /\.(data|weight|weights|raw|tensor|tensors|arr|dat)$/i;

/**
 * Why a file whose bytes carry no format header (raw tensor data) cannot be vetted alone, naming
 * the companion file that makes it loadable, inferred from its name and size; undefined when the
 * name gives no reason to think the bytes are tensor data a loader reads (a tokenizer's binary, an
 * image), so that only files a loader would read through some companion are held back.
 */
export function tensorCompanion(name: string, size: number): string | undefined {
  const elements = size % 4 === 0 ? `${size / 4} float32 values` : size % 2 === 0 ? `${size / 2} 16-bit values` : `${size} bytes`;
  const raw = `content not recognised as any model format: raw bytes with no format header (${size} bytes: ${elements})`;
  if (ONNX_DATA.test(name)) {
    return `${raw}, named as ONNX external data: onnx.load reads it only through the .onnx model whose initializers name it in external_data (location "${name}"); vet it together with that model.onnx`;
  }
  if (SHARD.test(name)) {
    return `${raw}, named as one shard of a sharded checkpoint: loaders read it only through the index (model.safetensors.index.json or pytorch_model.bin.index.json) that maps tensors to shards; vet the folder with the index and every shard`;
  }
  if (RAW_TENSOR.test(name) || loaderOpensByName(name)) {
    return `${raw}: loadable only through a file that describes it — an ONNX model's external_data (model.onnx), a sharded checkpoint's *.index.json, or a safetensors/numpy header — vet it together with that file`;
  }
  return undefined;
}
