import { Cursor, type Bytes } from './bytes.js';

/**
 * A bounded protocol-buffers wire-format walker: enough to read the few fields a scanner needs
 * from a message without a schema compiler, and to skip the rest (tensor bytes of any size)
 * without reading them. No library does this with random-access reads and hard bounds, so it is
 * ours; the encoding is the protobuf specification's (varints, wire types 0/1/2/5).
 */
export type Field = { no: number; wire: 0; value: bigint } | { no: number; wire: 1 | 5 } | { no: number; wire: 2; start: number; length: number };

export class WireError extends Error {}

/** Reads fields of the message in [start, end); throws WireError on anything malformed. */
export function* fields(bytes: Bytes, start: number, end: number): Generator<Field> {
  if (end > bytes.size || start > end) throw new WireError(`message range ${start}..${end} outside ${bytes.size} bytes`);
  const cur = new Cursor(bytes, start, 64 << 10);
  while (cur.pos < end) {
    const at = cur.pos;
    const tag = varint(cur, end);
    const no = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    if (no === 0 || no > 536_870_911) throw new WireError(`field number ${no} at byte ${at}`);
    switch (wire) {
      case 0:
        yield { no, wire, value: varint(cur, end) };
        break;
      case 1:
      case 5:
        if (!cur.skip(wire === 1 ? 8 : 4) || cur.pos > end) throw new WireError(`fixed field ${no} runs past its message at byte ${at}`);
        yield { no, wire };
        break;
      case 2: {
        const length = varint(cur, end);
        if (length > BigInt(end - cur.pos)) throw new WireError(`field ${no} of ${length} bytes runs past its message at byte ${at}`);
        const s = cur.pos;
        cur.skip(Number(length));
        yield { no, wire, start: s, length: Number(length) };
        break;
      }
      default:
        throw new WireError(`wire type ${wire} (field ${no}) at byte ${at}`);
    }
  }
}

function varint(cur: Cursor, end: number): bigint {
  let v = 0n;
  for (let shift = 0n; shift < 70n; shift += 7n) {
    if (cur.pos >= end) throw new WireError(`varint runs past its message at byte ${cur.pos}`);
    const b = cur.byte();
    if (b < 0) throw new WireError('varint at the end of the data');
    v |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return v;
  }
  throw new WireError(`varint longer than 10 bytes at byte ${cur.pos}`);
}

/** A length-delimited field as UTF-8 text, at most `max` bytes of it. */
export function text(bytes: Bytes, f: Field & { wire: 2 }, max = 4096): string {
  return bytes.read(f.start, Math.min(f.length, max)).toString('utf8');
}
