# The pickle gadget table (rules/gadgets.toml) is derived from the sandbox image's own Python
# sources by `ltrack rules gadgets`; its header names the image recipe digest it was derived from,
# so this is a no-op until the recipe changes, then a walk of a few minutes inside the image.
node dist/bin/ltrack.js rules gadgets --if-stale >/tmp/ltrack-gadgets.log 2>&1 \
  || { log "gadget table generation failed; see /tmp/ltrack-gadgets.log"; tail -5 /tmp/ltrack-gadgets.log >&2; exit 1; }
