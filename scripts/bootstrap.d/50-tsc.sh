# TypeScript build into dist/ (incremental: a no-change build takes about a second).
npx tsc -p tsconfig.json || { log "TypeScript build failed"; exit 1; }
# The CLI as package.json's bin runs it: bundled (scripts/bundle.mjs), so a command loads one file
# and the chunks its own code needs instead of resolving ~900 modules.
node scripts/bundle.mjs cli || { log "bundling the CLI failed"; exit 1; }
