import { describe, expect, it } from 'vitest';
import { BufBytes, Cursor } from '../../src/formats/bytes.js';
import { DEFAULT_LIMITS } from '../../src/formats/limits.js';
import { runPickle } from '../../src/static/pickle/interpreter.js';
import { parseFloat0, parseInt0, parseLong, parseMemoKey } from '../../src/static/pickle/literals.js';

/**
 * The grammar corners of CPython 3.11's C unpickler, case by case (each expectation is what
 * `pickle.loads` does in the sandbox image; pickle-differential.test.ts checks them at scale).
 */
const b = (s: string) => Buffer.from(s, 'latin1');
const run = (s: string | Buffer) => runPickle(new Cursor(new BufBytes(typeof s === 'string' ? b(s) : s)), DEFAULT_LIMITS);
const outcome = (s: string | Buffer) => {
  const r = run(s);
  return r.stopped ? 'accept' : r.error?.limit ? `stopped:${r.error.stop}` : 'reject';
};

describe('pickle literals as the C unpickler reads them', () => {
  it('INT: strtol base 0 first (hex, C octal, NUL ends the string, 2-character 0/1 are bools), then int()', () => {
    expect(parseInt0(b('0x1'))).toBe(1n);
    expect(parseInt0(b('010'))).toBe(8n);
    expect(parseInt0(b('01'))).toBe(true);
    expect(parseInt0(b('00'))).toBe(false);
    expect(parseInt0(b(' 1'))).toBe(true);
    expect(parseInt0(b('\x00x'))).toBe(false);
    expect(parseInt0(b('1\x00zz'))).toBe(1n);
    expect(parseInt0(b('0b1'))).toBe(1n);
    expect(parseInt0(b('1_0'))).toBe(10n);
    expect(parseInt0(b('1 '))).toBe(1n);
    expect(parseInt0(b('99999999999999999999'))).toBe(99999999999999999999n);
    for (const bad of ['08', '0x', '0777777777777777777777777', '1__0', '_1', '-', '', 'abc', '5'.repeat(4301)]) expect(parseInt0(b(bad)), bad).toBeUndefined();
  });

  it('LONG, memo keys and FLOAT', () => {
    expect(parseLong(b('0x_1_0L'))).toBe(16n);
    expect(parseLong(b('L'))).toBeUndefined();
    expect(parseMemoKey(b('1_0'))).toBe(10n);
    expect(parseMemoKey(b('007'))).toBe(7n);
    expect(parseMemoKey(b('0x1'))).toBeUndefined();
    expect(parseFloat0(b('.5'))).toBe(0.5);
    expect(parseFloat0(b('-Infinity'))).toBe(-Infinity);
    expect(parseFloat0(b('1\x00x'))).toBe(1);
    for (const bad of [' 1', '1 ', '1e', '1_0', '1e999', '0x1', 'infinit']) expect(parseFloat0(b(bad)), bad).toBeUndefined();
  });
});

describe('pickle grammar: accept, reject, or stop (blocking) where the loader may go on', () => {
  it('accepts what the loader accepts and follows it to the call', () => {
    const r = run("I0x1\n0cos\nsystem\n(S'/bin/true'\ntR.");
    expect(r.stopped).toBe(true);
    expect(r.imports.map((i) => `${i.module}.${i.name}`)).toEqual(['os.system']);
    expect(outcome('(N.')).toBe('accept');
  });

  it('rejects what the loader rejects', () => {
    for (const s of ['N(.', '(.', '\x80\x06N.', "S'a\\x4'\n.", ')N\x81.', 'K\x01)R.', ']K\x01K\x02s.', '}]N\x86b.', 'd.', '(]K\x01d.']) expect(outcome(s), JSON.stringify(s)).toBe('reject');
  });

  it('stops, blocking, where the outcome depends on what an imported object is', () => {
    expect(outcome('cos\nsystem\n)R)\x81.')).toBe('stopped:model'); // NEWOBJ of what a call returned (a type?)
    expect(outcome('cos\nsystem\ncos\ngetcwd\n)RR.')).toBe('stopped:model'); // REDUCE arguments made by the loader
    expect(outcome('\x82\x01.')).toBe('stopped:model'); // EXT1: copyreg's registry
    expect(outcome('\x80\x05\x97.')).toBe('stopped:model'); // NEXT_BUFFER
  });

  it('stops, blocking, where an operand overruns its FRAME (file and bytes loaders part ways)', () => {
    const inside = b('\x8c\x02Z');
    const frame = Buffer.concat([b('\x80\x04\x95'), Buffer.from([inside.length, 0, 0, 0, 0, 0, 0, 0]), inside, b('os\x8c\x06system\x93)R.')]);
    expect(outcome(frame)).toBe('stopped:frame');
  });

  it('the analysis bounds stop with a limit, not a malformation', () => {
    expect(outcome(`\x80\x02${'N'.repeat(DEFAULT_LIMITS.maxPickleStack + 1)}.`)).toBe('stopped:limit');
  });
});
