import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import type { Writable } from 'node:stream';
import { LtrackError } from '../core/errors.js';

/** A command started by the agent, held before its first instruction until the agent says go. */
export interface HeldCommand {
  child: ChildProcess;
  pid: number;
  /** Lets the command exec: call once its pid is traced and the allow list is in the maps. */
  go(): void;
  /** Resolves with the wait status as a shell reports it: the exit code, or 128 + signal. */
  exited: Promise<number>;
}

/**
 * Starts `argv` held: a shell waits on a pipe for one line, then execs the command in place. The
 * agent adds the shell's pid to the traced tree and loads the allow list before writing the line,
 * so the command's own exec is the first thing judged and its first instruction runs confined (the
 * same go-handshake the vet's sandbox uses). If the agent dies first, the pipe closes, `read`
 * fails and the command never starts.
 */
export function launchHeld(argv: string[]): HeldCommand {
  if (argv.length === 0) throw new LtrackError('usage', 'nothing to run after --');
  const child = spawn('/bin/sh', ['-c', 'read -r go <&3 && [ "$go" = go ] && exec "$@"; exit 126', 'ltrack-held', ...argv], {
    stdio: ['inherit', 'inherit', 'inherit', 'pipe'],
  });
  if (child.pid === undefined) throw new LtrackError('usage', `cannot start ${argv[0] ?? ''}`);
  const gate = child.stdio[3] as Writable;
  const exited = new Promise<number>((resolve) => {
    child.on('exit', (code, signal) => {
      resolve(code ?? 128 + (signal ? constants.signals[signal] : 0));
    });
  });
  return {
    child,
    pid: child.pid,
    go: () => {
      gate.end('go\n');
    },
    exited,
  };
}
