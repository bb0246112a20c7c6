import { describe, expect, it } from 'vitest';
import { addonError, logTail } from '../../src/trace/addon.js';

// A load the kernel refuses says why: the addon returns libbpf's log of the failed load with its
// error (`libbpfLog`; the real refusal is in lifecycle.test.ts, opened without privileges), and
// addonError puts the log's last lines into the one-line message.

const VERIFIER_LOG = [
  "libbpf: prog 'lt_exit_openat': BPF program load failed: Permission denied",
  "libbpf: prog 'lt_exit_openat': -- BEGIN PROG LOAD LOG --",
  ...Array.from({ length: 400 }, (_, i) => `${i}: (85) call bpf_probe_read_kernel#113`),
  "R2 min value is negative, either use unsigned or 'var &= const'",
  'processed 4075 insns (limit 1000000) max_states_per_insn 4 total_states 201 peak_states 201 mark_read 38',
  '-- END PROG LOAD LOG --',
  "libbpf: prog 'lt_exit_openat': failed to load: -13",
  "libbpf: failed to load object 'ltrack_bpf'",
  '',
].join('\n');

describe('libbpf log in addon errors', () => {
  it("the message ends with the log's last lines: the verifier's verdict and the program it refused", () => {
    const err = addonError(Object.assign(new Error('load BPF programs: Permission denied'), { ltrackCode: 'tracer_unavailable', libbpfLog: VERIFIER_LOG }), 'cannot start the tracer');
    expect(err.code).toBe('tracer_unavailable');
    expect(err.message).toMatch(/^cannot start the tracer: load BPF programs: Permission denied; libbpf: /);
    expect(err.message).toContain('R2 min value is negative');
    expect(err.message).toMatch(/prog 'lt_exit_openat': failed to load: -13 \| failed to load object 'ltrack_bpf'$/);
    expect(err.message).not.toContain('\n');
  });

  it('keeps at most the last 12 lines and 1,200 characters', () => {
    const log = Array.from({ length: 500 }, (_, i) => `libbpf: verifier line ${i}`).join('\n');
    const tail = logTail(log);
    expect(tail.startsWith('verifier line 488 | verifier line 489')).toBe(true);
    expect(tail).toMatch(/verifier line 499$/);
    expect(logTail(`libbpf: ${'x'.repeat(5000)}`)).toHaveLength(1203);
    expect(logTail('')).toBe('');
  });

  it('an error without a log keeps its message as it was', () => {
    expect(addonError(Object.assign(new Error('attach lt_fork: No such file or directory'), { ltrackCode: 'tracer_unavailable' }), 'start').message).toBe(
      'start: attach lt_fork: No such file or directory',
    );
    expect(addonError('boom', 'poll')).toMatchObject({ code: 'internal', message: 'poll: boom' });
  });
});
