#!/usr/bin/env bash
# Builds the sandbox rootfs into DEST (which must not exist) from the Debian mirror MIRROR:
# debootstrap minbase of $suite, then the packages of packages.txt, then setup.sh in a chroot.
# The image is Debian's current stable (trixie: Python 3.13, torch 2.6 with memory-mapped loads)
# although the host is bookworm: the same mirror serves both, and bookworm's debootstrap builds it.
# Called by `ltrack sandbox build` (src/sandbox/image.ts), which owns caching and docker import.
set -euo pipefail
dest=$1 mirror=$2
suite=trixie
here=$(cd "$(dirname "$0")" && pwd)
[ ! -e "$dest" ] || { echo "build-rootfs: $dest exists" >&2; exit 2; }
mkdir -p "$dest"
# /proc is needed by some maintainer scripts; unmount it whatever happens.
cleanup() { mountpoint -q "$dest/proc" && umount -l "$dest/proc" || true; }
trap cleanup EXIT
echo "step: debootstrap minbase $suite from $mirror"
debootstrap --variant=minbase "$suite" "$dest" "$mirror" >"$dest.debootstrap.log" 2>&1 \
  || { tail -5 "$dest.debootstrap.log" >&2; exit 1; }
echo "deb $mirror $suite main" >"$dest/etc/apt/sources.list"
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
