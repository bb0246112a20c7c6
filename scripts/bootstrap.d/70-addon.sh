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

# lt-confine (native/lt-confine.c): the Landlock launcher of `ltrack agent --landlock -- CMD`,
# linked statically so it maps no library of its own.
d=$(digest_of native/lt-confine.c)
if ! stamp_ok lt-confine "$d" || [ ! -x native/build/lt-confine ]; then
  log "building lt-confine"
  mkdir -p native/build
  cc -O2 -Wall -Werror -static -o native/build/lt-confine native/lt-confine.c 2>/tmp/ltrack-confine.log \
    || { log "lt-confine build failed; see /tmp/ltrack-confine.log"; tail -5 /tmp/ltrack-confine.log >&2; exit 1; }
  stamp_set lt-confine "$d"
fi
