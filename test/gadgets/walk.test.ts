import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectPath } from '../../src/core/paths.js';

/**
 * sandbox/gadgets/walk.py over a small tree of made-up packages, run by the host's Python (the
 * image runs the same script over its own sources): what it derives, the call paths it records,
 * and what it must not count.
 */
const TREE: Record<string, string> = {
  'helpers/__init__.py': 'from .shell import run_line\nfrom .shell import *\n',
  'helpers/shell.py': `
import os
import subprocess as sp

__all__ = ["Runner"]

def run_line(cmd):
    return _inner(cmd)

def _inner(cmd):
    line = "%s 2>/dev/null" % cmd
    return os.system(line)

def fixed():
    return sp.check_output(["uname"])

class Runner:
    def __init__(self, argv):
        self.argv = argv
        self.start()

    def start(self):
        sp.Popen(self.argv)
`,
  'codeexec.py': `
def run_source(src, ns):
    exec(src, ns)

def constant():
    exec("x = 1")

def wrapper(src):
    return run_source(src, {})

def deep1(s):
    return deep2(s)
def deep2(s):
    return deep3(s)
def deep3(s):
    return deep4(s)
def deep4(s):
    return deep5(s)
def deep5(s):
    return run_source(s, {})
`,
  'files.py': `
import shutil

class Handler:
    def __init__(self, filename, mode="a"):
        self.filename = filename
        self.mode = mode
        self._opener = open
        self._open()

    def _open(self):
        opener = self._opener
        return opener(self.filename, self.mode)

class Quiet(Handler):
    def _open(self):
        return None

def read_only(path):
    with open(path) as f:
        return f.read()

def backup(src, dst):
    shutil.copy(src, dst)
`,
  'loader.py': `
try:
    import ctypes
except ImportError:
    ctypes = None  # a fallback binding must not hide the import

def load(path):
    import importlib
    mod = importlib.import_module(path)
    return ctypes.cdll[path], mod

def libc():
    return ctypes.CDLL("libc.so.6")
`,
  'net.py': `
import socket

class Client:
    def __init__(self, host):
        self.sock = socket.create_connection((host, 25))
`,
};

function walk(): { gadgets: Record<string, Record<string, string[]>>; aliases: Record<string, string>; text: string } {
  const root = mkdtempSync(join(tmpdir(), 'ltrack-walk-'));
  for (const [path, text] of Object.entries(TREE)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  const py = spawnSync('/usr/bin/python3', ['-I', '-B', projectPath('sandbox', 'gadgets', 'walk.py'), root], { encoding: 'utf8' });
  expect(py.status, py.stderr).toBe(0);
  return {
    ...(JSON.parse(py.stdout) as { gadgets: Record<string, Record<string, string[]>>; aliases: Record<string, string> }),
    text: py.stdout.replace(/"seconds":\{[^}]*\}/, '').replace(/"roots":\[[^\]]*\]/, ''),
  };
}

describe('gadget walker: static reachability over a package tree', () => {
  const out = walk();
  const g = out.gadgets;

  it('follows calls through private helpers and records the path, callable first and primitive last', () => {
    expect(g['helpers.shell.run_line']?.process).toEqual(['helpers.shell.run_line', 'helpers.shell._inner', 'os.system']);
    expect(g['codeexec.wrapper']?.code).toEqual(['codeexec.wrapper', 'codeexec.run_source', 'builtins.exec']);
  });

  it("a class is reached by constructing it: __init__, then methods through self, in the class's own MRO", () => {
    expect(g['helpers.shell.Runner']?.process).toEqual(['helpers.shell.Runner', 'helpers.shell.Runner.__init__', 'helpers.shell.Runner.start', 'subprocess.Popen']);
    // an opener bound to an attribute, called through a local: Handler creates its file
    expect(g['files.Handler']?.file_write).toEqual(['files.Handler', 'files.Handler.__init__', 'files.Handler._open', 'builtins.open']);
    // a subclass that overrides _open inherits __init__ but not the write
    expect(g['files.Quiet']?.file_write).toBeUndefined();
  });

  it('imports inside a function, subscripted library loaders and sockets are followed', () => {
    expect(g['loader.load']?.import).toEqual(['loader.load', 'importlib.import_module']);
    expect(g['loader.load']?.native).toEqual(['loader.load', 'ctypes.cdll']);
    expect(g['net.Client']?.socket).toEqual(['net.Client', 'net.Client.__init__', 'socket.create_connection']);
    expect(g['files.backup']?.file_write).toEqual(['files.backup', 'shutil.copy']);
  });

  it('does not count code, imports, loads or writes that the caller cannot steer', () => {
    expect(g['codeexec.constant']).toBeUndefined();
    expect(g['loader.libc']).toBeUndefined();
    expect(g['files.read_only']).toBeUndefined();
    // a process is a process even with a fixed command line
    expect(g['helpers.shell.fixed']?.process).toEqual(['helpers.shell.fixed', 'subprocess.check_output']);
  });

  it('stops at the depth bound', () => {
    // deep2 -> deep3 -> deep4 -> deep5 -> run_source: five callables, then exec
    expect(g['codeexec.deep2']?.code).toEqual(['codeexec.deep2', 'codeexec.deep3', 'codeexec.deep4', 'codeexec.deep5', 'codeexec.run_source', 'builtins.exec']);
    expect(g['codeexec.deep1']).toBeUndefined();
  });

  it('records re-exports as aliases, so find_class names that reach the same object are found', () => {
    expect(out.aliases['helpers.run_line']).toBe('helpers.shell.run_line');
    expect(out.aliases['helpers.Runner']).toBe('helpers.shell.Runner');
  });

  it('is deterministic: two walks print the same table', () => {
    expect(walk().text).toBe(out.text);
  });
});
