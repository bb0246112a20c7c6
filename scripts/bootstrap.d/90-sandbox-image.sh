# The offline sandbox image (debootstrap rootfs + docker import), named by its recipe digest:
# a no-op in about a second when the image for the current recipe exists.
# LTRACK_SANDBOX_TARBALL (a CI cache, e.g. actions/cache keyed on sandbox/image/**): restored from
# it when it holds this recipe's sandbox, written to it after a build when it does not exist.
if [ -n "${LTRACK_SANDBOX_TARBALL:-}" ] && [ -f "$LTRACK_SANDBOX_TARBALL" ]; then
  node dist/bin/ltrack.js sandbox import "$LTRACK_SANDBOX_TARBALL" >/tmp/ltrack-sandbox-build.log 2>&1 \
    || log "the cached sandbox could not be used ($(tail -1 /tmp/ltrack-sandbox-build.log)); building it"
fi
node dist/bin/ltrack.js sandbox build >/tmp/ltrack-sandbox-build.log 2>&1 \
  || { log "sandbox image build failed; see /tmp/ltrack-sandbox-build.log"; tail -5 /tmp/ltrack-sandbox-build.log >&2; exit 1; }
if [ -n "${LTRACK_SANDBOX_TARBALL:-}" ] && [ ! -f "$LTRACK_SANDBOX_TARBALL" ]; then
  node dist/bin/ltrack.js sandbox export "$LTRACK_SANDBOX_TARBALL" >/dev/null
fi
