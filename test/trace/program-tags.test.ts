import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EVENT_KINDS, type EventKind } from '../../src/core/event.js';
import { loadAddon, type Addon } from '../../src/trace/addon.js';
import { KIND_VALUE } from '../../src/trace/wire.js';
import { cgroupLayout } from '../../src/core/cgroup-layout.js';

const CGROUP_ROOT = (await cgroupLayout()).v2Root ?? '';

// The addon chooses the programs to load by the kind tag each carries in the object
// (.rodata.lt_tags), not by its name. These tests open the real tracer with a kind mask and list
// the programs this process then holds (the prog_id of each BPF descriptor in /proc/self/fdinfo).

const OBJECT = new URL('../../bpf/ltrack.bpf.o', import.meta.url).pathname;

interface BtfType {
  kind: string;
  name?: string;
  linkage?: string;
}
/** The object's programs: its global functions (helpers and callbacks are static). */
const PROGRAMS = (JSON.parse(execFileSync('bpftool', ['-j', 'btf', 'dump', 'file', OBJECT], { encoding: 'utf8' })) as { types: BtfType[] }).types
  .filter((t) => t.kind === 'FUNC' && t.linkage === 'global')
  .map((t) => t.name ?? '')
  .sort();

function loadedPrograms(): string[] {
  const ids = new Set<number>();
  for (const fd of readdirSync('/proc/self/fdinfo')) {
    let info: string;
    try {
      info = readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
    } catch {
      continue; // the directory's own descriptor, closed by the time it is read
    }
    const m = /^prog_id:\s*(\d+)$/m.exec(info);
    if (m?.[1] !== undefined) ids.add(Number(m[1]));
  }
  const progs = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' })) as { id: number; name: string }[];
  return progs
    .filter((p) => ids.has(p.id))
    .map((p) => p.name)
    .sort();
}

function withTracer<T>(addon: Addon, kinds: EventKind[], cgroupHooks: number, body: (skipped: string) => T): T {
  const kindMask = kinds.reduce((m, k) => m | (1 << KIND_VALUE[k]), 0);
  const h = addon.open({ ringBytes: 1 << 16, kindMask, wakeupBytes: 1 << 14, cgroupHooks, aggregateMs: 0, cgroupRoot: CGROUP_ROOT });
  try {
    return body(addon.skipped(h));
  } finally {
    addon.close(h);
  }
}

/** Loaded whatever the mask: fork and exit keep the traced tree, exec enforces kill mode. */
const ALWAYS = ['lt_exec', 'lt_exit', 'lt_fork'];
const HOOKS = ['lt_connect4', 'lt_connect6', 'lt_sendmsg4', 'lt_sendmsg6'];

describe('BPF programs are chosen by their kind tag', () => {
  const addon = loadAddon();

  it("a mask of one kind loads that kind's programs and the always-loaded ones, nothing else", () => {
    expect(withTracer(addon, ['connect'], 0, () => loadedPrograms())).toEqual([...ALWAYS, 'lt_enter_connect', 'lt_exit_connect'].sort());
    expect(withTracer(addon, ['fork'], 0, () => loadedPrograms())).toEqual(ALWAYS);
  });

  it('the cgroup hooks load only when asked for, whatever the mask', () => {
    expect(withTracer(addon, ['fork'], 1, () => loadedPrograms())).toEqual([...ALWAYS, ...HOOKS].sort());
  });

  it('file_open takes every program that reports one, the names made by rename and link included', () => {
    const loaded = withTracer(addon, ['file_open'], 0, () => loadedPrograms());
    expect(loaded).toEqual(expect.arrayContaining(['lt_exit_openat', 'lt_exit_openat2', 'lt_exit_creat', 'lt_exit_renameat2', 'lt_exit_linkat', 'lt_exit_symlinkat']));
    expect(loaded).not.toContain('lt_enter_mmap');
    expect(loaded).not.toContain('lt_enter_sendmsg');
  });

  it('every kind loads every program of the object but the tracepoints this kernel lacks', () => {
    withTracer(addon, [...EVENT_KINDS], 1, (skipped) => {
      const loaded = loadedPrograms();
      const absent = skipped === '' ? 0 : skipped.split(',').length;
      expect(loaded.every((p) => PROGRAMS.includes(p))).toBe(true);
      expect(PROGRAMS.length - loaded.length).toBe(absent);
    });
  });
});
