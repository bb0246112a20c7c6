# npm dependencies, reinstalled only when the lock file changed.
# `npm ci` refuses this lock under npm 11 (it wants the optional rollup builds of every platform,
# which npm install does not record); `npm install` honours the lock just as well here.
d=$(digest_of package-lock.json)
if ! stamp_ok npm "$d" || [ ! -d node_modules ]; then
  log "npm install (from package-lock.json)"
  npm install --no-audit --no-fund --loglevel=error >/tmp/ltrack-npm.log 2>&1 || { log "npm install failed; see /tmp/ltrack-npm.log"; tail -5 /tmp/ltrack-npm.log >&2; exit 1; }
  stamp_set npm "$d"
fi
