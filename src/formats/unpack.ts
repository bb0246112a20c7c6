import { spawnSync } from 'node:child_process';
import { gunzipSync, inflateSync } from 'node:zlib';
import type { Limits } from './limits.js';
import { decodeLz4Frames } from './lz4.js';

export type Compression = 'gzip' | 'zlib' | 'bz2' | 'xz' | 'lzma' | 'lz4';

/** What unpacking gave: the content (a prefix of it when a bound cut it), or why there is none. */
export type Unpacked = { data: Buffer; cut?: string } | { problem: string; limit: boolean };

/**
 * Unpacks a compressed stream with a hard bound on the output: never more than the in-memory
 * limit, nor more than the compression-ratio limit times the input. gzip and zlib use node:zlib;
 * bzip2, xz and legacy .lzma (joblib's `compress='lzma'`) use Debian's bzip2 and xz — the reference
 * decoders — as child processes whose output stops at the bound (the child is killed there), with
 * xz's own memory limit against dictionary-size bombs. Synchronous, like the rest of the scan.
 */
export function unpack(kind: Compression, input: Buffer, limits: Limits): Unpacked {
  if (input.length > limits.maxInMemoryBytes) return { problem: `${kind} stream of ${input.length} bytes is over the in-memory limit; not unpacked`, limit: true };
  const cap = Math.min(limits.maxInMemoryBytes, limits.maxCompressionRatio * Math.max(input.length, 1024));
  if (kind === 'gzip' || kind === 'zlib') {
    try {
      return { data: (kind === 'gzip' ? gunzipSync : inflateSync)(input, { maxOutputLength: cap }) };
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      return (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE'
        ? { problem: `${kind} content is larger than ${cap} bytes (size or ratio limit); not unpacked`, limit: true }
        : { problem: `malformed ${kind} stream: ${message}`, limit: false };
    }
  }
  if (kind === 'lz4') return decodeLz4Frames(input, cap);
  const [tool, args] = externalDecoder(kind);
  const r = spawnSync(tool, args, { input, maxBuffer: cap, timeout: 120_000, env: {} });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOBUFS') {
    // the child's last chunk may overrun maxBuffer: the bound is ours, so cut there
    const data = r.stdout.subarray(0, cap);
    return { data, cut: `${kind} content is larger than ${cap} bytes (size or ratio limit); only its first ${data.length} bytes were analysed` };
  }
  if (r.error) return { problem: `${tool} could not run: ${r.error.message}`, limit: false };
  if (r.status !== 0) {
    const why = decoderError(r.stderr.toString('utf8'), r.status);
    return /memory usage limit/i.test(why)
      ? { problem: `${kind} stream needs more memory than the limit to unpack (${why})`, limit: true }
      : { problem: `malformed ${kind} stream: ${why}`, limit: false };
  }
  return { data: r.stdout };
}

/** Debian's reference decoder for the formats node:zlib lacks, reading stdin and writing stdout; xz with a memory limit against dictionary-size bombs. */
export function externalDecoder(kind: 'bz2' | 'xz' | 'lzma'): [string, string[]] {
  return kind === 'bz2' ? ['bzip2', ['--decompress', '--stdout']] : ['xz', ['--decompress', '--stdout', `--format=${kind}`, '--memlimit-decompress=256MiB']];
}

/** Why a decoder failed: the first line of its stderr, without the tool's own prefix. */
export function decoderError(stderr: string, status: number | null): string {
  return (
    stderr
      .trim()
      .split('\n')[0]
      ?.replace(/^(bzip2|xz): \(stdin\): /, '') || `exit ${status}`
  );
}
