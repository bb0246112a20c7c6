#!/usr/bin/env bash
# Builds the sandbox rootfs into DEST (which must not exist) from the Debian mirror MIRROR:
# debootstrap minbase bookworm, then the packages of packages.txt, then setup.sh in a chroot.
# Called by `ltrack sandbox build` (src/sandbox/image.ts), which owns caching and docker import.
set -euo pipefail
dest=$1 mirror=$2
here=$(cd "$(dirname "$0")" && pwd)
[ ! -e "$dest" ] || { echo "build-rootfs: $dest exists" >&2; exit 2; }
mkdir -p "$dest"
# /proc is needed by some maintainer scripts; unmount it whatever happens.
cleanup() { mountpoint -q "$dest/proc" && umount -l "$dest/proc" || true; }
trap cleanup EXIT
echo "step: debootstrap minbase bookworm from $mirror"
debootstrap --variant=minbase bookworm "$dest" "$mirror" >"$dest.debootstrap.log" 2>&1 \
  || { tail -5 "$dest.debootstrap.log" >&2; exit 1; }
echo "deb $mirror bookworm main" >"$dest/etc/apt/sources.list"
mount -t proc proc "$dest/proc"
mapfile -t pkgs < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$here/packages.txt")
echo "step: apt-get install ${pkgs[*]}"
chroot "$dest" env DEBIAN_FRONTEND=noninteractive LC_ALL=C apt-get update -qq >/dev/null
chroot "$dest" env DEBIAN_FRONTEND=noninteractive LC_ALL=C \
  apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >"$dest.apt.log" 2>&1 \
  || { tail -5 "$dest.apt.log" >&2; exit 1; }
echo "step: setup.sh"
cp "$here/setup.sh" "$dest/tmp/ltrack-setup.sh"
chroot "$dest" /bin/sh /tmp/ltrack-setup.sh
rm -f "$dest/tmp/ltrack-setup.sh"
umount "$dest/proc"
rm -f "$dest.debootstrap.log" "$dest.apt.log"
echo "step: rootfs done"
