import type { Bytes } from './bytes.js';
import type { Limits } from './limits.js';

interface TarMember {
  name: string;
  /** where the member's bytes start, and how many */
  offset: number;
  size: number;
}

/**
 * A bounded reader of POSIX ustar / GNU tar archives (the oldest torch.save format is a tar of
 * `sys_info`, `pickle`, `storages` and `tensors`, each a pickle that torch.load unpickles): every
 * header's checksum is verified, every size must fit the archive, at most `maxZipEntries` members.
 * Regular files are listed; links, directories and PAX/GNU metadata records are stepped over.
 */
export function readTar(bytes: Bytes, limits: Limits): { members: TarMember[]; problems: string[] } {
  const members: TarMember[] = [];
  const problems: string[] = [];
  let longName: string | undefined;
  let at = 0;
  for (;;) {
    if (at + 512 > bytes.size) {
      if (at < bytes.size) problems.push(`tar archive ends inside a header at byte ${at}`);
      break;
    }
    const h = bytes.read(at, 512);
    if (h.every((b) => b === 0)) break; // end-of-archive blocks
    const declared = octal(h, 148, 8);
    if (declared === undefined || declared !== checksum(h)) {
      problems.push(`tar header at byte ${at} fails its checksum`);
      break;
    }
    const size = sizeField(h);
    if (size === undefined || at + 512 + size > bytes.size) {
      problems.push(`tar member at byte ${at} claims ${size ?? 'an unreadable number of'} bytes, past the end of the archive`);
      break;
    }
    const type = String.fromCharCode(h[156]!);
    const prefix = h.subarray(257, 262).toString('latin1') === 'ustar' ? cstr(h, 345, 155) : '';
    const name = longName ?? (prefix ? `${prefix}/${cstr(h, 0, 100)}` : cstr(h, 0, 100));
    longName = undefined;
    if (type === 'L')
      longName = bytes
        .read(at + 512, Math.min(size, 4096))
        .toString('utf8')
        .replace(/\0.*$/s, '');
    else if (type === '0' || type === '\0' || type === '7') {
      if (members.length >= limits.maxZipEntries) {
        problems.push(`more than ${limits.maxZipEntries} tar members; the rest are not analysed`);
        break;
      }
      members.push({ name, offset: at + 512, size });
    }
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return { members, problems };
}

/** Sum of the header's bytes with the checksum field counted as spaces. */
function checksum(h: Buffer): number {
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
  return sum;
}

function octal(h: Buffer, at: number, len: number): number | undefined {
  const s = h
    .subarray(at, at + len)
    .toString('latin1')
    .replace(/[\0 ]+$/, '')
    .trim();
  return /^[0-7]+$/.test(s) ? parseInt(s, 8) : undefined;
}

/** Size: octal, or GNU's base-256 form for members of 8 GiB and more. */
function sizeField(h: Buffer): number | undefined {
  if (h[124]! & 0x80) {
    let v = 0;
    for (let i = 125; i < 136; i++) v = v * 256 + h[i]!;
    return Number.isSafeInteger(v) ? v : undefined;
  }
  return octal(h, 124, 12);
}

function cstr(h: Buffer, at: number, len: number): string {
  const field = h.subarray(at, at + len);
  const nul = field.indexOf(0);
  return field.subarray(0, nul < 0 ? len : nul).toString('utf8');
}
