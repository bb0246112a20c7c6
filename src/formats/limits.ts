import { LtrackError } from '../core/errors.js';

/**
 * Every bound the static parsers respect, in one frozen object. Exceeding one is a finding
 * (LT-LIM-001), never an exception, an OOM or a hang. Each is configurable through
 * `scanPaths(paths, { limits })`.
 */
export interface Limits {
  /** Files larger than this are hashed but not parsed (LT-LIM-001). */
  maxFileBytes: number;
  /** Zip central directory entries considered (LT-LIM-001). */
  maxZipEntries: number;
  /** Uncompressed / compressed ratio above which a member is a bomb (LT-ZIP-005). */
  maxCompressionRatio: number;
  /** Decompressed content up to this size is held in memory and analysed; above it, a limit finding (LT-LIM-001). */
  maxInMemoryBytes: number;
  /** Pickle value stack depth (LT-LIM-001). */
  maxPickleStack: number;
  /** Pickle memo entries (LT-LIM-001). */
  maxPickleMemo: number;
  /** Items kept per symbolic container; the rest are counted, not stored. */
  maxContainerItems: number;
  /**
   * Bytes of a BINBYTES/BINUNICODE/… operand kept in its symbolic value (names, modes, the prefix
   * that tells an encoded pickle); the whole operand stays in place and is read by windows.
   */
  maxInlineBytes: number;
  /** Length of a protocol-0 text line (LT-LIM-001). */
  maxLineBytes: number;
  /** Containers inside containers, nested pickles inside pickles (LT-LIM-001). */
  maxNestingDepth: number;
  /** Pickles read back to back from one stream (LT-LIM-001). */
  maxPicklesPerStream: number;
  /** Stored zip members whose CRC is checked in full; larger tensor blobs are hashed only. */
  maxCrcCheckBytes: number;
  /** Header/metadata sections (safetensors JSON, GGUF metadata, npy header, ONNX model). */
  maxHeaderBytes: number;
  /** Files visited under one folder (LT-LIM-001). */
  maxFilesPerFolder: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxFileBytes: 64 * 2 ** 30,
  maxZipEntries: 100_000,
  maxCompressionRatio: 200,
  maxInMemoryBytes: 32 * 2 ** 20,
  maxPickleStack: 100_000,
  maxPickleMemo: 1_000_000,
  maxContainerItems: 64,
  maxInlineBytes: 64 * 2 ** 10,
  maxLineBytes: 1 << 20,
  maxNestingDepth: 16,
  maxPicklesPerStream: 1_000,
  maxCrcCheckBytes: 64 * 2 ** 20,
  maxHeaderBytes: 100 * 2 ** 20,
  maxFilesPerFolder: 1_000_000,
});

/** Merges overrides onto the defaults; a non-positive or non-integer bound is a usage error. */
export function resolveLimits(overrides: Partial<Limits> = {}): Readonly<Limits> {
  const merged: Limits = { ...DEFAULT_LIMITS, ...overrides };
  for (const [key, value] of Object.entries(merged)) {
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new LtrackError('usage', `limit ${key} must be a positive integer, got ${String(value)}`);
    }
  }
  return Object.freeze(merged);
}
