# TypeScript build into dist/ (incremental: a no-change build takes about a second).
npx tsc -p tsconfig.json || { log "TypeScript build failed"; exit 1; }
