import type { Progress } from '../core/progress.js';
import { forTerminal } from '../report/escape.js';

/**
 * How a long command shows that it is working, on stderr (stdout stays the report's):
 * - `live`: one line rewritten in place (a terminal), every update, at most ten a second;
 * - `steps`: one line per step, no per-file updates (a CI log, a pipe); nothing at all for a
 *   command that ends within STEP_DELAY_MS (as git does), so a quick vet or a bad-input error
 *   prints only its result;
 * - `all`: every update as its own line from the start (LTRACK_PROGRESS=1, for scripts and tests);
 * - `off`.
 */
export type ProgressMode = 'live' | 'steps' | 'all' | 'off';

export const PROGRESS_CHOICES = ['auto', 'live', 'steps', 'all', 'off'] as const;

/** The mode for a `--progress` choice: `auto` follows LTRACK_PROGRESS (1 all, 0 off), then whether stderr is a terminal. */
export function progressMode(choice: (typeof PROGRESS_CHOICES)[number], isTTY: boolean, env: NodeJS.ProcessEnv = process.env): ProgressMode {
  if (choice !== 'auto') return choice;
  if (env.LTRACK_PROGRESS === '0') return 'off';
  if (env.LTRACK_PROGRESS) return 'all';
  return isTTY ? 'live' : 'steps';
}

const STEP_DELAY_MS = 2000;
const LIVE_INTERVAL_MS = 100;

export interface ProgressPrinter {
  report: Progress;
  /** Clears the live line (the result is printed after it); a pending delayed step is dropped. */
  done(): void;
}

/** Prints progress to `out` in `mode`; every message is escaped for the terminal (file names are the candidate's). */
export function progressPrinter(mode: ProgressMode, out: NodeJS.WritableStream = process.stderr): ProgressPrinter {
  const line = (m: string) => `ltrack: ${forTerminal(m)}`;
  switch (mode) {
    case 'off':
      return { report: () => undefined, done: () => undefined };
    case 'all':
      return { report: (m) => void out.write(`${line(m)}\n`), done: () => undefined };
    case 'steps': {
      let current: string | undefined;
      let shown = false;
      const timer = setTimeout(() => {
        shown = true;
        if (current !== undefined) out.write(`${line(current)}\n`);
      }, STEP_DELAY_MS);
      timer.unref();
      return {
        report: (m, tick) => {
          if (tick) return;
          current = m;
          if (shown) out.write(`${line(m)}\n`);
        },
        done: () => clearTimeout(timer),
      };
    }
    case 'live': {
      let step = '';
      let last = 0;
      let drawn = false;
      const draw = (text: string) => {
        // the terminal's width is unknown to a stream: keep the line short enough for most
        const shown = text.length > 120 ? `${text.slice(0, 58)}…${text.slice(-61)}` : text;
        out.write(`\r\x1b[2K${shown}`);
        drawn = true;
      };
      return {
        report: (m, tick) => {
          const now = Date.now();
          if (!tick) step = m;
          else if (now - last < LIVE_INTERVAL_MS) return;
          last = now;
          draw(line(tick ? `${step} — ${m}` : m));
        },
        done: () => {
          if (drawn) out.write('\r\x1b[2K');
          drawn = false;
        },
      };
    }
  }
}
