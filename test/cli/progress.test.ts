import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { progressMode, progressPrinter, type ProgressMode } from '../../src/cli/progress.js';
import { humanBytes } from '../../src/core/units.js';

function capture(mode: ProgressMode) {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d: Buffer) => (text += d.toString()));
  return { printer: progressPrinter(mode, out), text: () => text };
}

afterEach(() => vi.useRealTimers());

describe('progress', () => {
  it('auto: a terminal gets the live line, anything else a line per step; LTRACK_PROGRESS overrides', () => {
    expect(progressMode('auto', true, {})).toBe('live');
    expect(progressMode('auto', false, {})).toBe('steps');
    expect(progressMode('auto', true, { LTRACK_PROGRESS: '1' })).toBe('all');
    expect(progressMode('auto', true, { LTRACK_PROGRESS: '0' })).toBe('off');
    expect(progressMode('off', true, { LTRACK_PROGRESS: '1' })).toBe('off');
  });

  it('steps: nothing for a command that ends early; once it runs long, the current step and every later one, never a tick', () => {
    vi.useFakeTimers();
    const quick = capture('steps');
    quick.printer.report('staging 1 file (12 B)');
    quick.printer.done();
    vi.advanceTimersByTime(10_000);
    expect(quick.text()).toBe('');

    const long = capture('steps');
    long.printer.report('staging 2 files (3.0 GB)');
    long.printer.report('a.bin (1/2 files, 1.0 GB of 3.0 GB hashed)', true);
    vi.advanceTimersByTime(2500);
    long.printer.report('b.bin (2/2 files, 2.0 GB of 3.0 GB hashed)', true);
    long.printer.report('sandbox: load phase');
    long.printer.done();
    expect(long.text()).toBe('ltrack: staging 2 files (3.0 GB)\nltrack: sandbox: load phase\n');
  });

  it('live: one line redrawn with the step and its latest update, cleared at the end; names are escaped', () => {
    vi.useFakeTimers();
    const { printer, text } = capture('live');
    printer.report('static analysis of 1 file');
    vi.advanceTimersByTime(200);
    printer.report('evil\x1b[2Jname.pkl', true);
    printer.report('throttled.pkl', true); // within 100 ms of the last redraw
    printer.done();
    const frames = text().split('\r\x1b[2K');
    expect(frames[0]).toBe('');
    expect(frames[1]).toBe('ltrack: static analysis of 1 file');
    expect(frames[2]).toBe('ltrack: static analysis of 1 file — evil\\x1b[2Jname.pkl');
    expect(frames).toHaveLength(4);
    expect(frames.at(-1)).toBe(''); // cleared: the result is printed on a clean line
    expect(text()).not.toContain('\x1b[2J');
  });

  it('all: every report as its own line', () => {
    const { printer, text } = capture('all');
    printer.report('step');
    printer.report('tick', true);
    expect(text()).toBe('ltrack: step\nltrack: tick\n');
  });

  it('sizes read as people read them', () => {
    expect([0, 999, 1000, 12_345, 3_000_000_000, 5.5e12].map(humanBytes)).toEqual(['0 B', '999 B', '1.0 kB', '12 kB', '3.0 GB', '5.5 TB']);
  });
});
