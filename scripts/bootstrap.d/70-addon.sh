# The tracer's N-API addon (native/), built with node-gyp against Debian's libbpf-dev and the
# node headers in /usr/include/node (no download: --nodedir=/usr). npm 11 runs no install
# scripts, so this step is what builds it. Rebuilt when its source or the skeleton changed.
d=$(digest_of native/ltrack.c native/binding.gyp bpf/ltrack.h bpf/ltrack.skel.h)
if ! stamp_ok addon "$d" || [ ! -f native/build/Release/ltrack.node ]; then
  log "building the tracer addon"
  gyp="$PWD/node_modules/node-gyp/bin/node-gyp.js"
  # node-gyp is a devDependency; npm bundles one too, used when the devDependency is absent
  [ -f "$gyp" ] || gyp=/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js
  ( cd native && node "$gyp" rebuild --nodedir=/usr ) >/tmp/ltrack-addon.log 2>&1 \
    || { log "addon build failed; see /tmp/ltrack-addon.log"; tail -5 /tmp/ltrack-addon.log >&2; exit 1; }
  stamp_set addon "$d"
fi
