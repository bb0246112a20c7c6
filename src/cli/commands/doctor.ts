import type { Command } from 'commander';
import pc from 'picocolors';
import { action } from '../run.js';
import { ExitCode } from '../../core/exit.js';

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('check everything the dynamic path needs, one line each; exit 0 only when all hold')
    .action(
      action(async () => {
        const color = process.stdout.isTTY && !process.env.NO_COLOR;
        const { runChecks } = await import('../../doctor/index.js');
        const checks = await runChecks();
        for (const c of checks) {
          const mark = c.ok ? (color ? pc.green('ok  ') : 'ok  ') : color ? pc.red('FAIL') : 'FAIL';
          process.stdout.write(`${mark} ${c.name}: ${c.detail}${c.ok ? '' : ` — ${c.fix}`}\n`);
        }
        const failed = checks.filter((c) => !c.ok).length;
        process.stdout.write(failed === 0 ? 'all checks hold: the dynamic path can run\n' : `${failed} check(s) failed: the dynamic path cannot be trusted here\n`);
        return failed === 0 ? ExitCode.Pass : ExitCode.Incomplete;
      }),
    );
}
