import type { Command } from 'commander';
import { action, notBuilt } from '../run.js';

export function registerRules(program: Command): void {
  const rules = program.command('rules').description('the TOML rule set shared by vet and agent');
  rules.command('lint').argument('[files...]').description('check rule files against the schema').action(action(() => notBuilt('ltrack rules lint', 'issue 6')));
  rules.command('test').argument('[files...]').description("run the rules' inline test cases").action(action(() => notBuilt('ltrack rules test', 'issue 6')));
}
