# Install the Debian packages listed in scripts/apt-packages.txt that are not installed yet.
mapfile -t wanted < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' scripts/apt-packages.txt)
missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq >/dev/null
  # Packages are installed, never started as services (prometheus would start one): ltrack starts
  # what it needs itself. A policy-rc.d that refuses starts is put in place for the install when
  # the machine has none (container images usually do).
  policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && policy=1
  fi
  rc=0
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/ltrack-apt.log 2>&1 || rc=$?
  [ -n "$policy" ] && rm -f /usr/sbin/policy-rc.d
  [ "$rc" = 0 ] || { log "apt-get install failed; see /tmp/ltrack-apt.log"; tail -5 /tmp/ltrack-apt.log >&2; exit 1; }
fi
