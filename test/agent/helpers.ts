import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type { AgentAction } from '../../src/agent/types.js';
import { omsRootDigest } from '../../src/manifest/build.js';
import { PREDICATE_TYPE, STATEMENT_TYPE, type Statement } from '../../src/manifest/types.js';
import { CLI_BIN } from '../helpers/cli.js';

export const SERVER = new URL('./fixtures/server.py', import.meta.url).pathname;

/** The built CLI started as a long-running child: what it printed so far, and when it ends. */
export interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number>;
  /** Resolves when stdout or stderr (as named) matches, with the match; rejects if the process ends first. */
  waitFor(stream: 'stdout' | 'stderr', pattern: RegExp): Promise<RegExpMatchArray>;
}

export function startLtrack(args: string[]): Running {
  const child = spawn(process.execPath, [CLI_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  const text = { stdout: '', stderr: '' };
  const waiters: (() => void)[] = [];
  const wake = () => waiters.splice(0).forEach((w) => w());
  child.stdout.on('data', (d: Buffer) => {
    text.stdout += d.toString();
    wake();
  });
  child.stderr.on('data', (d: Buffer) => {
    text.stderr += d.toString();
    wake();
  });
  let ended = false;
  const exited = new Promise<number>((resolve) =>
    child.on('close', (code, signal) => {
      ended = true;
      wake();
      resolve(code ?? (signal ? 128 + 9 : -1));
    }),
  );
  return {
    child,
    stdout: () => text.stdout,
    stderr: () => text.stderr,
    exited,
    waitFor: (stream, pattern) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const m = pattern.exec(text[stream]);
          if (m) resolve(m);
          else if (ended) reject(new Error(`ltrack ${args[0]} ended before ${pattern} on ${stream}:\n${text.stderr}`));
          else waiters.push(check);
        };
        check();
      }),
  };
}

/** GET a path of the test server; a connection the server dropped (it was killed) is `undefined`. */
export async function get(port: number, path: string): Promise<Record<string, unknown> | undefined> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}${path}`);
    return (await r.json()) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

export async function actionsIn(file: string): Promise<AgentAction[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as AgentAction);
}

/** A vet manifest as a passing vet of `files` (name → sha256) would sign it, allowing `allow`. */
export function statementFor(
  subject: { name: string; sha256: string }[],
  rulesetDigest: string,
  allow: Partial<Statement['predicate']['allow']> = {},
  edit: Partial<Statement['predicate']> = {},
): Statement {
  const subj = subject.map((s) => ({ name: s.name, digest: { sha256: s.sha256 } }));
  const now = Date.now();
  return {
    _type: STATEMENT_TYPE,
    subject: subj,
    predicateType: PREDICATE_TYPE,
    predicate: {
      allow: { filesRead: [], librariesMapped: [], exec: [], network: [], ...allow },
      packages: [],
      rulesetDigest,
      verdict: 'pass',
      forced: false,
      tool: { name: 'ltrack', version: '0.0.0' },
      issuedAt: new Date(now - 60_000).toISOString(),
      expiresAt: new Date(now + 86_400_000).toISOString(),
      omsRootDigest: omsRootDigest(subj),
      ...edit,
    },
  };
}
