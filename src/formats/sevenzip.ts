import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeSync, openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { Bytes } from './bytes.js';
import type { Limits } from './limits.js';

export interface SevenZipMember {
  name: string;
  data: Buffer;
}

/** Every file member's bytes, or why they cannot be had (`limit`: a bound of ours stopped it). */
export type SevenZip = { members: SevenZipMember[] } | { problem: string; limit: boolean };

/** Debian bookworm's `7zip` installs 7zz; `p7zip-full` installs 7za and 7z. */
const PROGRAMS = ['/usr/bin/7zz', '/usr/bin/7za', '/usr/bin/7z'];
/** The listing of an archive's headers: names and sizes, never member data. */
const MAX_LISTING = 16 << 20;
/** Address space of the extracting child: enough for any LZMA dictionary a model archive uses, not for a dictionary-size bomb. */
const CHILD_ADDRESS_SPACE = 2 ** 31;
const TIMEOUT_MS = 120_000;
/** A password nobody set: an encrypted archive fails instead of prompting (an unencrypted one ignores it). */
const NO_PASSWORD = '-pltrack-no-password';

/**
 * 7z archives through 7-Zip itself, as a child process, the way bzip2 and xz are unpacked
 * (src/formats/unpack.ts): there is no maintained bounded 7z reader for Node. The archive is
 * listed first (names, sizes, CRCs, encryption), its total checked against the in-memory and
 * ratio bounds before anything is extracted, then every member is written to the child's stdout
 * in index order with the output capped at that total, and the child's address space capped
 * against dictionary-size bombs. The stream is cut by the listed sizes and each piece checked
 * against its listed CRC, so a listing and an extraction that disagree (a crafted name that
 * breaks the listing's format, a member the listing hides) is a problem, not a misattributed member.
 */
export function read7z(bytes: Bytes, limits: Limits): SevenZip {
  const program = PROGRAMS.find((p) => existsSync(p));
  if (!program) return { problem: "no 7-Zip program on this host (7zz, 7za or 7z: Debian's 7zip or p7zip-full)", limit: false };
  if (bytes.size > limits.maxFileBytes) return { problem: `7z archive of ${bytes.size} bytes is over the size limit`, limit: true };
  const dir = mkdtempSync(join(tmpdir(), 'ltrack-7z-'));
  try {
    const archive = join(dir, 'archive.7z');
    copyOut(bytes, archive);
    const listing = run(program, ['l', '-slt', '-ba', '-t7z', NO_PASSWORD, '--', archive], MAX_LISTING);
    if ('problem' in listing) return { problem: `7z archive cannot be listed: ${listing.problem}`, limit: listing.limit };
    const items = parseListing(listing.out.toString('utf8'));
    if ('problem' in items) return { problem: items.problem, limit: false };
    const files = items.filter((i) => !i.dir);
    if (files.length > limits.maxZipEntries) return { problem: `${files.length} members in the 7z archive, more than the limit ${limits.maxZipEntries}`, limit: true };
    const encrypted = files.find((f) => f.encrypted);
    if (encrypted) return { problem: `7z member ${JSON.stringify(encrypted.name)} is encrypted and cannot be analysed`, limit: false };
    const total = files.reduce((n, f) => n + f.size, 0);
    const cap = Math.min(limits.maxInMemoryBytes, limits.maxCompressionRatio * Math.max(bytes.size, 1024));
    if (total > cap) return { problem: `7z members total ${total} bytes, over the bound of ${cap} (in-memory size or compression ratio); not extracted`, limit: true };
    if (total === 0) return { members: files.map((f) => ({ name: f.name, data: Buffer.alloc(0) })) };
    const extracted = run('/usr/bin/prlimit', [`--as=${CHILD_ADDRESS_SPACE}`, '--', program, 'x', '-so', '-t7z', '-bd', '-y', NO_PASSWORD, '--', archive], total);
    if ('problem' in extracted) return { problem: `7z archive cannot be extracted: ${extracted.problem}`, limit: extracted.limit };
    if (extracted.out.length !== total) return { problem: `7-Zip extracted ${extracted.out.length} bytes where the listing promised ${total}: the listing and the archive disagree`, limit: false };
    const members: SevenZipMember[] = [];
    let at = 0;
    for (const f of files) {
      const data = extracted.out.subarray(at, at + f.size);
      at += f.size;
      if (f.crc !== undefined && crc32(data) !== f.crc) return { problem: `7z member ${JSON.stringify(f.name)} does not match its listed CRC: the listing and the extraction disagree`, limit: false };
      members.push({ name: f.name, data });
    }
    return { members };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The archive's bytes into a private file (7-Zip needs to seek), a megabyte at a time. */
function copyOut(bytes: Bytes, path: string): void {
  const fd = openSync(path, 'wx', 0o600);
  try {
    for (let off = 0; off < bytes.size; off += 1 << 20) writeSync(fd, bytes.read(off, Math.min(1 << 20, bytes.size - off)));
  } finally {
    closeSync(fd);
  }
}

function run(program: string, args: string[], cap: number): { out: Buffer } | { problem: string; limit: boolean } {
  const r = spawnSync(program, args, { maxBuffer: cap, timeout: TIMEOUT_MS, env: {}, stdio: ['ignore', 'pipe', 'pipe'] });
  const code = r.error && 'code' in r.error ? r.error.code : undefined;
  if (code === 'ENOBUFS') return { problem: `output over ${cap} bytes`, limit: true };
  if (code === 'ETIMEDOUT') return { problem: `7-Zip ran longer than ${TIMEOUT_MS / 1000} s`, limit: true };
  if (r.error) return { problem: `7-Zip could not run: ${r.error.message}`, limit: false };
  if (r.status !== 0) {
    const why = `${r.stderr.toString('utf8')}\n${r.stdout.toString('utf8')}`
      .split('\n')
      .map((l) => l.trim())
      .find((l) => /^(ERROR|Error|Can't|Cannot|Wrong|Data Error|Unsupported|Headers Error)/.test(l));
    return { problem: why ?? `7-Zip exited with ${r.status ?? r.signal}`, limit: /memory|Can't allocate/i.test(why ?? '') };
  }
  return { out: r.stdout };
}

interface Item {
  name: string;
  size: number;
  dir: boolean;
  encrypted: boolean;
  crc?: number;
}

/** `7zz l -slt -ba`: one block of `Key = Value` lines per item, blocks separated by blank lines. */
export function parseListing(text: string): Item[] | { problem: string } {
  const items: Item[] = [];
  for (const block of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    for (const line of block.split('\n')) {
      const eq = line.indexOf(' = ');
      if (eq > 0) fields.set(line.slice(0, eq), line.slice(eq + 3));
      else if (line.trim() && fields.size === 0) return { problem: `unexpected line in the 7z listing: ${JSON.stringify(line.slice(0, 80))}` };
    }
    if (fields.size === 0) continue;
    const name = fields.get('Path');
    const size = Number(fields.get('Size') ?? 'x');
    if (name === undefined || !Number.isSafeInteger(size) || size < 0) return { problem: `a 7z listing entry without a path or size (${JSON.stringify(block.slice(0, 80))})` };
    const crc = fields.get('CRC');
    items.push({
      name,
      size,
      dir: (fields.get('Attributes') ?? '').startsWith('D'),
      encrypted: fields.get('Encrypted') === '+',
      ...(crc && /^[0-9A-F]{8}$/i.test(crc) ? { crc: parseInt(crc, 16) } : {}),
    });
  }
  return items;
}
