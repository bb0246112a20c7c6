import { Writable } from 'node:stream';

/** Keeps the first `cap` bytes written to it and counts the rest: a payload's output flood costs nothing. */
export class CappedSink extends Writable {
  #chunks: Buffer[] = [];
  #kept = 0;
  dropped = 0;

  constructor(private readonly cap: number) {
    super();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    const room = this.cap - this.#kept;
    if (room > 0) {
      const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
      this.#chunks.push(Buffer.from(part));
      this.#kept += part.length;
    }
    this.dropped += Math.max(0, chunk.length - Math.max(0, room));
    done();
  }

  text(): string {
    return Buffer.concat(this.#chunks).toString('utf8');
  }
}
