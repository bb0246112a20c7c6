#!/usr/bin/env -S node --max-semi-space-size=2
// The flag: V8's young generation otherwise grows to 3 x 16 MiB on the burst of short-lived objects
// an analysis allocates (a pickle of 4,096 tensor records), and that committed heap is most of the
// difference between a small and a large static vet's peak RSS (bench/static/shapes.mjs: 98-103 MB
// → 87-90 MB for torch-many); a CLI's heap is small and short-lived, so smaller scavenges cost
// nothing measurable (1,000 small files: same files/s). `env -S` is GNU coreutils (8.30+) and BSD.
// `ltrack --version` needs nothing but the version: it is answered before the command table
// (commander and every command's registration) is loaded. Everything else goes to the program.
import { TOOL_VERSION } from '../core/version.js';

const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) process.stdout.write(`${TOOL_VERSION}\n`);
else await import('./program.js');
