#!/usr/bin/env node
// `ltrack --version` needs nothing but the version: it is answered before the command table
// (commander and every command's registration) is loaded. Everything else goes to the program.
import { TOOL_VERSION } from '../core/version.js';

const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) process.stdout.write(`${TOOL_VERSION}\n`);
else await import('./program.js');
