import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { wrapError } from '../core/errors.js';
import { sha256Hasher } from '../core/sha256.js';

export type HashProgress = (doneBytes: number, totalBytes: number) => void;

/** Streams one file through sha256 in bounded memory; `onBytes` gets each chunk's size. */
export async function sha256File(path: string, onBytes: (n: number) => void = () => undefined): Promise<string> {
  const hash = sha256Hasher();
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
      hash.update(chunk as Buffer);
      onBytes((chunk as Buffer).length);
    }
  } catch (err) {
    throw wrapError(err, 'bad_input', 'cannot read for hashing', path);
  }
  return hash.digest('hex');
}

// The worker streams one file at a time and posts progress (plain JavaScript: it cannot import
// core/sha256.ts, so it calls node:crypto itself); a plain sha256 of one file is a
// sequential chain that cannot be split, so parallelism is across files, one worker per core.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { createReadStream } = require('node:fs');
parentPort.on('message', async ({ path }) => {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
      hash.update(chunk);
      parentPort.postMessage({ bytes: chunk.length });
    }
    parentPort.postMessage({ done: hash.digest('hex') });
  } catch (err) {
    parentPort.postMessage({ error: String(err && err.message || err) });
  }
});
`;

/**
 * sha256 of every file, files hashed in parallel on worker threads (one per core, at most one per
 * file), progress reported in bytes over all files. Small sets are hashed inline: a worker costs
 * more to start than hashing a few megabytes.
 */
export async function sha256Files(paths: string[], onProgress: HashProgress = () => undefined): Promise<Map<string, string>> {
  const sizes = await Promise.all(paths.map(async (p) => (await stat(p).catch((err: unknown) => Promise.reject(wrapError(err, 'bad_input', 'cannot read for hashing', p)))).size));
  const total = sizes.reduce((a, b) => a + b, 0);
  let done = 0;
  const tick = (n: number) => {
    done += n;
    onProgress(done, total);
  };
  const out = new Map<string, string>();
  const workers = Math.min(paths.length, availableParallelism());
  if (total < 64 << 20 || workers < 2) {
    for (const p of paths) out.set(p, await sha256File(p, tick));
    return out;
  }
  const queue = [...paths];
  await Promise.all(
    Array.from({ length: workers }, async () => {
      const worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [] }); // CommonJS whatever flags (--input-type=module) this process was given
      try {
        for (let p = queue.shift(); p !== undefined; p = queue.shift()) out.set(p, await hashOn(worker, p, tick));
      } finally {
        await worker.terminate();
      }
    }),
  );
  return out;
}

function hashOn(worker: Worker, path: string, tick: (n: number) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: { bytes?: number; done?: string; error?: string }) => {
      if (m.bytes !== undefined) tick(m.bytes);
      else {
        worker.off('message', onMessage);
        if (m.done !== undefined) resolve(m.done);
        else reject(wrapError(new Error(m.error ?? 'unknown error'), 'bad_input', 'cannot read for hashing', path));
      }
    };
    worker.on('message', onMessage);
    worker.postMessage({ path });
  });
}
