import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cefValue, escapeTerminal, forTerminal, jsonForTerminal } from '../../src/report/escape.js';
import { terminalSummary } from '../../src/report/text.js';
import { REPORT_VERSION, type Report } from '../../src/core/report.js';
import { ltrack } from '../helpers/cli.js';

/** Every character a terminal acts on or that reorders text (what escapeTerminal must never emit raw). */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/;
const BIDI = ['\u061c', '\u200e', '\u200f', '\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069'];

/** The inverse of escapeTerminal, written independently here: proves the escape loses nothing. */
function unescape(s: string): string {
  return s.replace(/\\(\\|x[0-9a-f]{2}|u[0-9a-f]{4})/g, (_, e: string) => (e === '\\' ? '\\' : String.fromCharCode(parseInt(e.slice(1), 16))));
}

/** Strings dense in the characters that matter: controls, bidi, backslashes, escape look-alikes. */
const hostile = fc
  .array(
    fc.oneof(
      fc.integer({ min: 0, max: 0x9f }).map((c) => String.fromCharCode(c)),
      fc.constantFrom(...BIDI, '\u2028', '\u2029', '\\', '\\x1b', '\\u202e', '\x1b[2J', '\x1b]0;t\x07', '\u009b31m', 'é', '😀'),
      fc.string(),
    ),
    { maxLength: 40 },
  )
  .map((parts) => parts.join(''));

describe('escapeTerminal', () => {
  it('never emits a control, bidi or line-separator character (200,000 cases)', () => {
    fc.assert(
      fc.property(fc.oneof(hostile, fc.string({ unit: 'binary' })), (s) => !UNSAFE.test(escapeTerminal(s))),
      { numRuns: 200_000 },
    );
  });
  it('round-trips: the escaped text says exactly what the original was', () => {
    fc.assert(
      fc.property(fc.oneof(hostile, fc.string({ unit: 'binary' })), (s) => unescape(escapeTerminal(s)) === s),
      { numRuns: 50_000 },
    );
  });
  it('is injective: two different names never look the same once escaped', () => {
    fc.assert(
      fc.property(hostile, hostile, (a, b) => a === b || escapeTerminal(a) !== escapeTerminal(b)),
      { numRuns: 20_000 },
    );
  });
  it('leaves ordinary text alone and spells each escape predictably', () => {
    expect(escapeTerminal('model-0001/weights.safetensors é 😀')).toBe('model-0001/weights.safetensors é 😀');
    expect(escapeTerminal('a\nb\tc\rd\x1b[2J\x7f\x9b')).toBe('a\\x0ab\\x09c\\x0dd\\x1b[2J\\x7f\\x9b');
    expect(escapeTerminal('x\u202eexe.pkl\u2066\u200f\u061c\u2028')).toBe('x\\u202eexe.pkl\\u2066\\u200f\\u061c\\u2028');
    expect(escapeTerminal('C:\\x0a')).toBe('C:\\\\x0a'); // a literal backslash cannot pose as an escape
  });
  it('forTerminal masks decoys and escapes; JSON on a terminal keeps its meaning', () => {
    expect(UNSAFE.test(forTerminal('\u202e\n'))).toBe(false);
    fc.assert(
      fc.property(hostile, (s) => {
        const json = jsonForTerminal(JSON.stringify({ s }));
        return !UNSAFE.test(json) && (JSON.parse(json) as { s: string }).s === s;
      }),
      { numRuns: 20_000 },
    );
    expect(cefValue('a\nb=c')).toBe('a\\\\x0ab\\=c');
  });
});

function report(path: string, globalName: string): Report {
  return {
    version: REPORT_VERSION,
    tool: { name: 'ltrack', version: '0' },
    startedAt: new Date().toISOString(),
    targets: [{ path, sha256: 'a'.repeat(64), size: 1, format: 'pickle' }],
    verdict: { status: 'block', severity: 'high', score: 8, failOn: 'high', reasons: [`phase\n${globalName}`] },
    findings: [
      {
        ruleId: 'LT-PKL-008',
        title: `imports ${globalName}`,
        severity: 'high',
        cvss: { vector: 'CVSS:4.0/AV:N', base: 8, score: 8, weighting: [] },
        mitre: [],
        action: 'block',
        source: 'static',
        phase: 'static',
        message: `${globalName} called`,
        evidence: {},
      },
    ],
    observed: {
      filesRead: [],
      filesWritten: [],
      librariesMapped: [],
      exec: [],
      network: [],
      packages: [],
      sinkhole: [{ proto: 'dns', name: `x\u202e.example`, size: 3, preview: 'a\nb', phase: 'load' }],
    },
    stats: { events: 0, drops: 0, tracerTiers: [], sandbox: 'none', durationsMs: {} },
    rulesetDigest: 'c'.repeat(64),
  };
}

describe('text report', () => {
  it('prints every report string escaped: no forged line, no reordering, nothing lost', () => {
    const name = 'os.system\nPASS  0 finding(s)\x1b[2J\u202elpk.exe';
    const out = terminalSummary(report('/m/evil\n  PASS\u202e.pkl', name), { color: false });
    expect(UNSAFE.test(out.replace(/\n/g, ''))).toBe(false);
    // Lines: header, target, finding title, finding message, reason, sinkhole, stats — no extra line.
    expect(out.trimEnd().split('\n')).toHaveLength(7);
    expect(out).toContain('/m/evil\\x0a  PASS\\u202e.pkl');
    expect(out).toContain(escapeTerminal(name));
  });
});

describe('ltrack vet --static-only, end to end', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ltrack-terminal-'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  // A forged verdict line, a clear-screen escape and a right-to-left override.
  const EVIL = '\nPASS  1 file(s), 0 finding(s)\x1b[2J\x1b[1A\u202elpk.';

  it('escapes a file name holding a newline, an ESC sequence and U+202E (text report and progress lines)', async () => {
    const file = join(dir, `model${EVIL}pkl`);
    // A benign protocol-2 pickle of a small dict: {"a": 1}
    await writeFile(file, Buffer.from([0x80, 0x02, 0x7d, 0x71, 0x00, 0x58, 0x01, 0x00, 0x00, 0x00, 0x61, 0x71, 0x01, 0x4b, 0x01, 0x73, 0x2e]));
    const r = ltrack(['vet', '--static-only', file], { env: { LTRACK_PROGRESS: '1' } });
    expect(r.code, r.stderr).toBe(0);
    for (const stream of [r.stdout, r.stderr]) {
      expect(UNSAFE.test(stream.replace(/\n/g, ''))).toBe(false);
      expect(stream.split('\n').filter((l) => l.startsWith('PASS  1 file(s), 0 finding(s)\\x1b'))).toEqual([]);
    }
    expect(r.stdout).toContain(escapeTerminal(file));
    expect(r.stderr).toContain(escapeTerminal(file)); // the progress line names it too
    expect(r.stdout.split('\n').filter((l) => l.startsWith('PASS'))).toHaveLength(1);
    // --format json on the same terminal: no raw control or bidi character, the same name when parsed.
    const j = ltrack(['vet', '--static-only', '--format', 'json', file]);
    expect(j.code).toBe(0);
    expect(UNSAFE.test(j.stdout.replace(/\n/g, ''))).toBe(false);
    expect((JSON.parse(j.stdout) as Report).targets.map((t) => t.path)).toContain(file);
  });

  it('escapes a pickle global name holding them', async () => {
    const name = `system${EVIL}`;
    const nameBytes = Buffer.from(name, 'utf8');
    // protocol 4: SHORT_BINUNICODE "os", SHORT_BINUNICODE name, STACK_GLOBAL, EMPTY_TUPLE, REDUCE, STOP
    const pkl = Buffer.concat([Buffer.from([0x80, 0x04, 0x8c, 2]), Buffer.from('os'), Buffer.from([0x8c, nameBytes.length]), nameBytes, Buffer.from([0x93, 0x29, 0x52, 0x2e])]);
    const file = join(dir, 'global.pkl');
    await writeFile(file, pkl);
    const r = ltrack(['vet', '--static-only', file]);
    expect([0, 1, 3]).toContain(r.code);
    expect(UNSAFE.test(r.stdout.replace(/\n/g, ''))).toBe(false);
    expect(r.stdout).toContain(escapeTerminal(`os.${name}`));
    expect(r.stdout.split('\n').filter((l) => /^(PASS|BLOCK|INCOMPLETE)/.test(l))).toHaveLength(1);
  });

  it('escapes an error line naming a file (exit 2, one line)', () => {
    const missing = join(dir, `gone${EVIL}pkl`);
    const r = ltrack(['vet', '--static-only', missing]);
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(UNSAFE.test(r.stderr.trimEnd())).toBe(false);
    expect(r.stderr).toContain(escapeTerminal(missing));
  });

  it('escapes a file name in a commander usage error, keeping its own suggestion line', () => {
    const r = ltrack(['vet', `--sandbox=x${EVIL}`, 'm.pkl']);
    expect(r.code).toBe(2);
    const first = r.stderr.split('\n')[0]!;
    expect(UNSAFE.test(first)).toBe(false);
    expect(first).toContain(escapeTerminal(`x${EVIL}`));
    const typo = ltrack(['vet', '--static-onl', 'm.pkl']);
    expect(typo.stderr).toMatch(/unknown option '--static-onl'\n\(Did you mean --static-only\?\)/);
  });
});
