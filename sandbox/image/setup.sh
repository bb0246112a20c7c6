#!/bin/sh
# Runs inside the fresh rootfs (chroot) after the packages are installed. Part of the recipe digest.
# Mount points must exist in the image: bubblewrap cannot create them on a read-only root, and
# Docker would create them as root-owned folders in its own layer anyway.
set -eu
mkdir -p /candidate /wheelhouse /deps /ltrack /home/ltrack /opt/ltrack
chmod 0755 /candidate /wheelhouse /deps /ltrack /opt/ltrack
chown 65534:65534 /home/ltrack
# The harness runs as nobody; give it a name and a home so pip and Python's getpwuid() agree.
sed -i 's#^nobody:.*#nobody:x:65534:65534:nobody:/home/ltrack:/usr/sbin/nologin#' /etc/passwd
# Nothing in the image should be setuid: a payload that finds one would have a way up.
find / -xdev -perm /6000 -type f -exec chmod ug-s {} + 2>/dev/null || true
# Compiled bytecode: the read-only root cannot take __pycache__ writes later, so compile now.
python3 -m compileall -q -j 0 /usr/lib/python3/dist-packages /usr/lib/python3.[0-9]* >/dev/null 2>&1 || true
# Caches and docs are dead weight in an image that never runs apt again.
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /usr/share/doc/* /usr/share/man/* /usr/share/info/*
