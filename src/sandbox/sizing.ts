import { totalmem } from 'node:os';
import { LtrackError } from '../core/errors.js';
import { DEFAULT_SANDBOX_LIMITS } from './limits.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/**
 * Formats whose loader maps the file instead of copying it into the sandbox's memory: torch zips
 * (`torch.load(mmap=True)`) and safetensors. Their pages are file-backed and reclaimable, so the
 * memory limit does not have to hold them (measured: a 2.7 GB checkpoint loads under a 2 GiB limit).
 */
const MAPPED = new Set(['torch-zip', 'safetensors']);

/** Bytes of working memory a copied file costs per byte: the bytes read, plus the objects built from them. */
export const COPY_FACTOR = 2;

/** Never ask for more than the host has less this, whatever the models weigh. */
const HOST_RESERVE = 1 * GiB;

/**
 * The sandbox's memory limit for a set of models, unless the user gave one (`--memory`):
 *
 *   limit = 2 GiB (interpreter, torch, numpy, the loaders)
 *         + 2 × the bytes of every model whose loader copies it (pickles, legacy torch, joblib, npy…)
 *
 * capped at the host's memory less 1 GiB. Mapped formats (torch zip, safetensors) add nothing. A
 * benign model that still exhausts the limit makes the vet incomplete with the limit named in the
 * reason (never block): raise it with `--memory`.
 */
export function memoryForModels(models: { size: number; format: string }[], hostBytes = totalmem()): number {
  const copied = models.filter((m) => !MAPPED.has(m.format)).reduce((sum, m) => sum + m.size, 0);
  const wanted = DEFAULT_SANDBOX_LIMITS.memoryBytes + COPY_FACTOR * copied;
  const cap = Math.max(DEFAULT_SANDBOX_LIMITS.memoryBytes, hostBytes - HOST_RESERVE);
  return Math.ceil(Math.min(wanted, cap) / MiB) * MiB;
}

/** `--memory 6g`, `512m`, `8GiB` or a plain number of bytes → bytes. */
export function parseMemory(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(text);
  if (!m) throw new LtrackError('usage', `--memory must be a size such as 4g, 512m or a number of bytes, got ${JSON.stringify(text)}`);
  const unit = { '': 1, k: 1024, m: MiB, g: GiB, t: 1024 * GiB }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Math.round(Number(m[1]) * unit);
}
