import type { Command } from 'commander';
import { action } from '../run.js';
import { ExitCode } from '../../core/exit.js';
import type { RuleSet } from '../../rules/index.js';

// The rule engine (schema compiler, CVSS library) loads when a rules command runs, not at start-up.
async function load(files: string[]): Promise<RuleSet> {
  const { DEFAULT_RULES_DIR, loadRuleSet } = await import('../../rules/index.js');
  return loadRuleSet(files.length > 0 ? (files.length === 1 ? files[0]! : files) : DEFAULT_RULES_DIR);
}

export function registerRules(program: Command): void {
  const rules = program.command('rules').description('the TOML rule set shared by vet and agent');
  rules
    .command('lint')
    .argument('[files...]', 'rule files or a folder (default: the bundled rules/)')
    .description('check rule files against the schema, their CVSS vectors, regexes and CIDRs, and id uniqueness')
    .action(
      action(async (files: string[]) => {
        const set = await load(files);
        const { defaultPolicy, digestWithPolicy } = await import('../../static/pickle/policy.js');
        // a vet records the digest with the pickle globals policy folded in: print that too, to compare with reports and manifests
        process.stdout.write(
          `${set.rules.length} rules in ${set.files.length} files are valid (rule-set digest ${set.digest}; with the pickle globals policy, as a vet records it, ${digestWithPolicy(set.digest, defaultPolicy())})\n`,
        );
        return ExitCode.Pass;
      }),
    );
  rules
    .command('test')
    .argument('[files...]', 'rule files or a folder (default: the bundled rules/)')
    .description("run the rules' inline test cases; every dynamic rule needs a match and a no_match case")
    .action(
      action(async (files: string[]) => {
        const set = await load(files);
        const { runRuleTests } = await import('../../rules/index.js');
        const { results, untested } = runRuleTests(set);
        const failed = results.filter((r) => !r.passed);
        for (const f of failed) process.stdout.write(`FAIL ${f.ruleId} case ${f.index + 1} (expected ${f.expect}) in ${f.file}\n`);
        for (const id of untested) process.stdout.write(`UNTESTED ${id}: needs at least one match and one no_match case\n`);
        process.stdout.write(`${results.length - failed.length} passed, ${failed.length} failed\n`);
        return failed.length === 0 && untested.length === 0 ? ExitCode.Pass : ExitCode.BadInput;
      }),
    );
  rules
    .command('gadgets')
    .option('--if-stale', 'keep the table when its header names the current image recipe digest (the bootstrap uses this)')
    .option('--out <file>', 'where to write the table (default: the bundled rules/gadgets.toml)')
    .description("derive the pickle gadget table from the sandbox image's Python sources (static reachability over their ASTs)")
    .action(
      action(async (opts: { ifStale?: boolean; out?: string }) => {
        const { buildGadgets } = await import('../../rules/gadgets-build.js');
        const run = await buildGadgets({ ...(opts.out ? { out: opts.out } : {}), ifStale: opts.ifStale === true });
        const h = run.header;
        const counts = Object.entries(h.counts)
          .map(([c, n]) => `${c} ${n}`)
          .join(', ');
        process.stdout.write(
          run.skipped
            ? `${run.file} is current for image recipe ${h.image_recipe} (${h.gadgets} gadgets)\n`
            : `${run.file}: ${h.gadgets} gadgets of ${h.callables} callables in ${h.files} files (${counts}), image recipe ${h.image_recipe}, ${run.seconds.toFixed(1)}s (walker: parse ${run.walk?.parse}s, graph ${run.walk?.graph}s)\n`,
        );
        return ExitCode.Pass;
      }),
    );
}
