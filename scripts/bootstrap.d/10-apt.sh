# Install the Debian packages listed in scripts/apt-packages.txt that are not installed yet.
mapfile -t wanted < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' scripts/apt-packages.txt)
missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/ltrack-apt.log 2>&1 \
    || { log "apt-get install failed; see /tmp/ltrack-apt.log"; tail -5 /tmp/ltrack-apt.log >&2; exit 1; }
fi
