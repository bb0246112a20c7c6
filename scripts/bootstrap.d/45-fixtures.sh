# Model fixtures (fixtures/out, gitignored), regenerated only when the generator changed.
# Debian's /usr/bin/python3 has torch, numpy, sklearn, joblib, dill and cloudpickle; gcc builds
# the small library one malicious fixture drops and loads.
d=$(digest_of fixtures/generate.py fixtures/gen/*.py)
if ! stamp_ok fixtures "$d" || [ ! -f fixtures/out/index.json ]; then
  log "generating fixtures into fixtures/out"
  rm -rf .cache/fixtures-out.tmp
  /usr/bin/python3 fixtures/generate.py .cache/fixtures-out.tmp 2>/tmp/ltrack-fixtures.log \
    || { log "fixture generation failed; see /tmp/ltrack-fixtures.log"; tail -5 /tmp/ltrack-fixtures.log >&2; exit 1; }
  rm -rf fixtures/out && mv .cache/fixtures-out.tmp fixtures/out
  stamp_set fixtures "$d"
fi
