// Bundles ltrack with esbuild, for start-up: resolving and loading ~900 ES modules cost most of a
// short command's time (bench/startup).
//   node scripts/bundle.mjs cli [OUTDIR]    the CLI, dist/bin/ltrack.js (package.json's bin): each
//                                           command's code in chunks loaded by its dynamic import()
//                                           (src/cli/commands), so --version loads commander only
//   node scripts/bundle.mjs action [OUTFILE] the GitHub Action, one file, dist/action/index.js, which
//                                           action.yml runs on node24; committed (a runner does not
//                                           npm install an action), and test/action/bundle.test.ts
//                                           fails when it differs from a fresh build
// Both live two folders down like every dist/ module, so the paths they resolve from their own URL
// (rules/, native/, sandbox/, package.json) are the checkout's.
import { readFile, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const [what, out] = process.argv.slice(2);

// The ahead-of-time validators (rules, report) require() ajv's runtime helpers through a
// createRequire of their own URL, which a bundler cannot follow; without those two lines they are
// plain require() calls that esbuild resolves and includes.
const inlineValidatorHelpers = {
  name: 'inline-validator-helpers',
  setup(b) {
    b.onLoad({ filter: /\.validate\.ts$/ }, async (args) => ({
      contents: (await readFile(args.path, 'utf8')).replace("import { createRequire } from 'node:module';", '').replace('const require = createRequire(import.meta.url);', ''),
      loader: 'ts',
    }));
  },
};

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  // CommonJS dependencies require() Node's own modules and read __dirname: give the ESM bundle both
  banner: {
    js: [
      "import { createRequire as __ltrackCreateRequire } from 'node:module';",
      "import { dirname as __ltrackDirname } from 'node:path';",
      "import { fileURLToPath as __ltrackFileURLToPath } from 'node:url';",
      'const require = __ltrackCreateRequire(import.meta.url);',
      'const __filename = __ltrackFileURLToPath(import.meta.url);',
      'const __dirname = __ltrackDirname(__filename);',
    ].join(' '),
  },
  // optional native parts of ssh2 (dockerode's SSH transport, unused): absent is fine, as ssh2 expects
  external: ['cpu-features', '*.node'],
  plugins: [inlineValidatorHelpers],
  legalComments: 'none',
  logLevel: 'warning',
};

if (what === 'cli') {
  // chunks sit next to the entry (dist/bin/), two folders down as well; the last build's go first
  const outdir = out ?? `${root}dist/bin`;
  await rm(outdir, { recursive: true, force: true });
  await build({ ...common, entryPoints: { ltrack: `${root}src/cli/main.ts` }, outdir, splitting: true, chunkNames: 'chunk-[hash]', minifyWhitespace: true, minifySyntax: true });
} else if (what === 'action') {
  await build({ ...common, entryPoints: [`${root}src/action/main.ts`], outfile: out ?? `${root}dist/action/index.js` });
} else {
  console.error('usage: node scripts/bundle.mjs cli|action [OUT]');
  process.exit(2);
}
