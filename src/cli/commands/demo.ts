import type { Command } from 'commander';
import { readFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { action } from '../run.js';
import { ExitCode } from '../../core/exit.js';
import { LtrackError } from '../../core/errors.js';
import { projectPath } from '../../core/paths.js';

/** One row of fixtures/out/index.json (fixtures/README.md). */
export interface FixtureEntry {
  file: string;
  kind: 'benign' | 'malicious';
  format: string;
  does: string;
  verdict: 'pass' | 'block';
  rule: string | null;
  /** Integrity fixtures: rules the sandboxed run must report besides the static one. */
  dynamicRules?: string[];
}

/**
 * `npm run demo`: vets every bundled fixture end to end — static analysis, the real sandbox with
 * the eBPF tracer, rules and scoring — and prints file, expected and actual verdict, top finding.
 * Exit 0 only when every fixture got the verdict its row in fixtures/README.md promises.
 */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('vet the bundled fixtures end to end and print a table of file, verdict, top finding')
    .option('--fixtures <dir>', 'fixture folder with index.json', projectPath('fixtures/out'))
    .option('--out <dir>', 'where each vet writes its reports', '/tmp/ltrack-demo')
    .option('--sandbox <driver>', 'docker, bwrap or auto', 'auto')
    .option('--jobs <n>', 'sandboxes run side by side under one tracer (default: the core count)')
    .action(
      action(async (opts: { fixtures: string; out: string; sandbox: 'docker' | 'bwrap' | 'auto'; jobs?: string }) => {
        const [{ vetMany }, { writeOutputs }, { runChecks }] = await Promise.all([import('../../vet/many.js'), import('../../report/index.js'), import('../../doctor/index.js')]);
        const jobs = opts.jobs === undefined ? undefined : Number(opts.jobs);
        if (jobs !== undefined && (!Number.isInteger(jobs) || jobs < 1)) throw new LtrackError('usage', `--jobs must be a positive integer, got ${opts.jobs}`);
        const index = await readIndex(opts.fixtures);
        const checks = await runChecks();
        const failing = checks.filter((c) => !c.ok);
        process.stdout.write(`doctor: ${checks.length - failing.length}/${checks.length} checks hold${failing.length ? ` (failing: ${failing.map((c) => c.name).join(', ')})` : ''}\n`);
        process.stdout.write(`vetting ${index.length} fixtures from ${opts.fixtures}: static analysis + sandboxed load traced by eBPF\n\n`);
        const rows: string[][] = [['file', 'expected', 'verdict', 'top finding', '']];
        const lines: string[][] = [];
        let mismatches = 0;
        const started = performance.now();
        await vetMany(
          index.map((entry) => [join(opts.fixtures, entry.file)]),
          { staticOnly: false, sandbox: opts.sandbox, network: 'none', timeoutSec: 300, failOn: 'high', onProgress: () => undefined },
          {
            ...(jobs === undefined ? {} : { jobs }),
            onResult: async (i, r) => {
              const entry = index[i]!;
              let row: string[];
              if ('error' in r) {
                row = [entry.file, entry.verdict, 'error', r.error.message, 'MISMATCH'];
              } else {
                const dir = join(opts.out, entry.file.replace(/[/\\]/g, '_'));
                await mkdir(dir, { recursive: true });
                await writeOutputs(r.outcome.report, dir, r.outcome.events);
                const top = r.outcome.report.findings[0];
                const status = r.outcome.report.verdict.status;
                const found = new Set(r.outcome.report.findings.map((f) => f.ruleId));
                const ok = status === entry.verdict && (entry.rule === null || found.has(entry.rule)) && (entry.dynamicRules ?? []).every((rule) => found.has(rule));
                row = [entry.file, entry.verdict, status, top ? `${top.ruleId} ${top.title}` : '-', ok ? 'ok' : 'MISMATCH'];
              }
              if (row[4] !== 'ok') mismatches++;
              lines[i] = row;
              // completion order: with --jobs > 1 the lines come as sandboxes finish; the table below is in index order
              process.stdout.write(`${row[4] === 'ok' ? 'ok      ' : 'MISMATCH'} ${entry.file}: ${row[2]}${row[3] !== '-' ? ` (${row[3]!.split(' ')[0]})` : ''}\n`);
            },
          },
        );
        rows.push(...lines);
        const seconds = (performance.now() - started) / 1000;
        process.stdout.write(`\n${index.length} fixtures in ${seconds.toFixed(1)} s (${((index.length * 60) / seconds).toFixed(1)} per minute)\n`);
        process.stdout.write(`\n${table(rows)}\n${index.length - mismatches}/${index.length} fixtures got their expected verdict; reports in ${opts.out}\n`);
        return mismatches === 0 ? ExitCode.Pass : ExitCode.Blocked;
      }),
    );
}

async function readIndex(dir: string): Promise<FixtureEntry[]> {
  const file = join(dir, 'index.json');
  try {
    return JSON.parse(await readFile(file, 'utf8')) as FixtureEntry[];
  } catch (err) {
    throw new LtrackError('bad_input', 'cannot read the fixture index (run bash scripts/bootstrap)', { cause: err, file });
  }
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.min(60, Math.max(...rows.map((r) => (r[i] ?? '').length))));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.slice(0, 60).padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
