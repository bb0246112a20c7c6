/** The command table: every command registered, then the command line parsed (src/cli/main.ts loads this). */
import { Command } from 'commander';
import { TOOL_VERSION } from '../core/version.js';
import { forTerminal } from '../report/escape.js';
import { registerVet } from './commands/vet.js';
import { registerDoctor } from './commands/doctor.js';
import { registerSandbox } from './commands/sandbox.js';
import { registerRules } from './commands/rules.js';
import { registerManifest } from './commands/manifest.js';
import { registerKey } from './commands/key.js';
import { registerDemo } from './commands/demo.js';
import { registerGate } from './commands/gate.js';
import { registerAgent } from './commands/agent.js';

const program = new Command('ltrack')
  .description(
    'Vet machine-learning models and their dependency sets before promotion: static analysis, ' +
      'an eBPF-traced sandboxed load, rules with CVSS v4 scoring, SARIF/JSON/HTML reports and a signed allowlist.',
  )
  .version(TOOL_VERSION, '-V, --version')
  .showHelpAfterError()
  // a subcommand's options are its own, even when its parent has one of the same name (gate / gate serve)
  .enablePositionalOptions()
  // Commander's error lines quote the user's arguments (often file names): escaped like every other
  // terminal line. Its own "(Did you mean …?)" suggestion, always last and made of our option and
  // command names, keeps its line.
  .configureOutput({
    outputError: (str, write) => {
      const m = /^([\s\S]*?)(\n\(Did you mean [\w ,-]+\?\))?\n?$/.exec(str)!;
      write(`${forTerminal(m[1]!)}${m[2] ?? ''}\n`);
    },
  })
  .addHelpText('after', '\nExit codes: 0 pass, 1 blocked, 2 bad usage or bad input, 3 incomplete (the run could not be trusted);\n' + '130/143 a vet stopped by SIGINT/SIGTERM after cleaning up.');

// Commander reports usage errors itself; make them exit 2 like every other bad usage.
program.exitOverride((err) => {
  if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') {
    process.exit(0);
  }
  process.exit(2);
});

for (const register of [registerVet, registerDoctor, registerSandbox, registerRules, registerManifest, registerKey, registerDemo, registerAgent, registerGate]) {
  register(program);
}

await program.parseAsync(process.argv);
