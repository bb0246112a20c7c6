import { constants } from 'node:fs';
import { copyFile, open, rm, type FileHandle } from 'node:fs/promises';
import { LtrackError, wrapError } from '../core/errors.js';
import { sha256Hasher } from '../core/sha256.js';
import { notRegular } from './enumerate.js';

interface Copied {
  sha256: string;
  size: number;
}

/** One buffer per copy: memory stays bounded whatever the file size. */
const CHUNK = 1 << 20;
/**
 * Buffers are sized to the file (at least this, at most CHUNK): two 1 MiB buffers per small file
 * were most of what a folder of thousands of small files allocated, and its garbage collection.
 */
const MIN_CHUNK = 4 << 10;
/**
 * Above this size the kernel copies (a reflink where the file system shares extents, else
 * copy_file_range: page cache to page cache, no byte through this process) and the copy is then
 * read back and hashed: 2 GiB staged in ~2 s instead of ~5 s read, hashed and written here. Below
 * it, one read, one hash and one write cost fewer system calls than a kernel copy plus a re-read.
 */
const KERNEL_COPY = 8 << 20;

/**
 * Copies one candidate file into the staging area and returns the digest of the copy — the
 * bytes that are scanned and that the sandbox loads. The source is opened once, O_NOFOLLOW (a
 * symlink raced in after enumeration is refused) and O_NONBLOCK (a FIFO raced in cannot block the
 * open), then checked with fstat before any read. A large file is copied by the kernel from that
 * open descriptor (/proc/self/fd names the same inode, so the path cannot be swapped under us),
 * exactly the size fstat saw, and the copy is hashed; a small one is read once, hashed and written
 * in the same pass. A file that grows meanwhile cannot make the copy endless, one that shrinks
 * ends it early — either way the copy is what ran.
 */
export async function copyHashed(source: string, dest: string, shown: string, opts: { onBytes?: (n: number) => void } = {}): Promise<Copied> {
  let src: FileHandle;
  try {
    src = await open(source, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  } catch (err) {
    throw wrapError(err, 'bad_input', 'cannot read', shown);
  }
  try {
    const s = await src.stat();
    if (!s.isFile()) throw notRegular(shown, s);
    if (s.size > KERNEL_COPY) {
      try {
        await copyFile(`/proc/self/fd/${src.fd}`, dest, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
      } catch (err) {
        await rm(dest, { force: true });
        throw err;
      }
      const copy = await open(dest, constants.O_RDONLY);
      try {
        return await stream(copy, undefined, Number.MAX_SAFE_INTEGER, s.size, opts.onBytes);
      } finally {
        await copy.close();
      }
    }
    const out = await open(dest, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      return await stream(src, out, s.size, s.size, opts.onBytes);
    } finally {
      await out.close();
    }
  } catch (err) {
    throw err instanceof LtrackError ? err : wrapError(err, 'bad_input', 'cannot stage a copy', shown);
  } finally {
    await src.close();
  }
}

/**
 * Reads `from` up to `limit` bytes (`sizeHint` sizes the buffers only; `onBytes` hears each chunk), hashing each chunk and writing it to `to` when given. Two
 * buffers: the next chunk is read and the current one written on the thread pool while the main
 * thread hashes, so the copy costs about what hashing alone does.
 */
async function stream(from: FileHandle, to: FileHandle | undefined, limit: number, sizeHint: number, onBytes?: (n: number) => void): Promise<{ sha256: string; size: number }> {
  const h = sha256Hasher();
  const bufSize = Math.min(CHUNK, Math.max(MIN_CHUNK, sizeHint));
  const bufs = [Buffer.allocUnsafe(bufSize), Buffer.allocUnsafe(bufSize)] as const;
  const readAt = async (buf: Buffer, pos: number) => (pos < limit ? (await from.read(buf, 0, Math.min(bufSize, limit - pos), pos)).bytesRead : 0);
  let pos = 0;
  let i = 0;
  let n = await readAt(bufs[0], 0);
  while (n > 0) {
    const chunk = bufs[i]!.subarray(0, n);
    const next = readAt(bufs[1 - i]!, pos + n);
    next.catch(() => undefined); // awaited below; a write failing first must not leave it unhandled
    const written = to ? writeAll(to, chunk, pos) : undefined;
    h.update(chunk);
    await written;
    pos += n;
    onBytes?.(n);
    n = await next;
    i = 1 - i;
  }
  return { sha256: h.digest('hex'), size: pos };
}

async function writeAll(to: FileHandle, chunk: Buffer, pos: number): Promise<void> {
  for (let off = 0; off < chunk.length;) off += (await to.write(chunk, off, chunk.length - off, pos + off)).bytesWritten;
}
