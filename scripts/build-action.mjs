// Bundles the GitHub Action (src/action/main.ts) into dist/action/index.js, the one file action.yml
// runs on node24; the bundle is committed (a runner does not npm install an action) and
// test/action/bundle.test.ts fails when it differs from a fresh build. It lives two folders down
// like every dist/ module, so the paths it resolves from its own URL (rules/, native/, sandbox/,
// package.json) are the checkout's.
//   node scripts/build-action.mjs [OUTFILE]
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const outfile = process.argv[2] ?? `${root}dist/action/index.js`;

// The ahead-of-time rule validator require()s ajv's runtime helpers through a createRequire of its
// own URL, which a bundler cannot follow; without those two lines they are plain require() calls
// that esbuild resolves and includes.
const inlineValidatorHelpers = {
  name: 'inline-validator-helpers',
  setup(b) {
    b.onLoad({ filter: /rule-file\.validate\.ts$/ }, async (args) => ({
      contents: (await readFile(args.path, 'utf8')).replace("import { createRequire } from 'node:module';", '').replace('const require = createRequire(import.meta.url);', ''),
      loader: 'ts',
    }));
  },
};

await build({
  entryPoints: [`${root}src/action/main.ts`],
  outfile,
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
});
