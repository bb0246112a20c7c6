# The offline sandbox image (debootstrap rootfs + docker import), named by its recipe digest:
# a no-op in about a second when the image for the current recipe exists.
node dist/cli/main.js sandbox build >/tmp/ltrack-sandbox-build.log 2>&1 \
  || { log "sandbox image build failed; see /tmp/ltrack-sandbox-build.log"; tail -5 /tmp/ltrack-sandbox-build.log >&2; exit 1; }
