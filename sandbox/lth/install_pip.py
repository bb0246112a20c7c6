"""install phase, pip: the user's requirements/lock from the local wheelhouse only, into the tmpfs prefix.

Debian's pip refuses system installs (externally managed); --prefix on the tmpfs works and still sees
the image's loaders. --ignore-installed because a lock that pins a loader at production's version
(joblib 1.2 where the image has 1.4) must get that version in the prefix, ahead of the image's
(harness.put_ahead_of_image); without it pip tries to uninstall the image's Debian copy and fails.
Only what the lock names (and its dependencies) is installed; the rest still comes from the image.
--no-build-isolation because an offline build cannot fetch setuptools again.
pip verifies --hash entries offline and turns on hash checking by itself when the file has any.
"""
import importlib.metadata
import os
import subprocess
import sys

from .util import file_digest, normalize, site_dirs


def install(deps_path, wheelhouse, prefix, phase):
    cmd = [
        sys.executable, "-m", "pip", "install",
        "--no-index", "--prefix", prefix, "--ignore-installed", "--no-build-isolation", "--no-cache-dir",
        "--disable-pip-version-check", "--no-warn-script-location", "--no-input",
        "-r", deps_path,
    ]
    if wheelhouse:
        cmd[5:5] = ["--find-links", wheelhouse]
    phase.detail["command"] = cmd[3:]
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL)
    phase.detail["pipExit"] = proc.returncode
    if proc.returncode != 0:
        phase.fail(f"pip install exited {proc.returncode}")
    return packages_in(prefix, wheelhouse)


def packages_in(prefix, wheelhouse):
    archives = _archives(wheelhouse)
    packages = []
    for site in site_dirs(prefix):
        for dist in importlib.metadata.distributions(path=[site]):
            name, version = dist.metadata["Name"], dist.version
            entry = {"name": name, "version": version}
            archive = archives.get((normalize(name), version))
            if archive:
                entry["sha256"] = file_digest(archive)
            packages.append(entry)
    return packages


def _archives(wheelhouse):
    """(normalised name, version) -> wheel or sdist path; file names carry both (PEP 427 / PEP 625)."""
    found = {}
    if not wheelhouse or not os.path.isdir(wheelhouse):
        return found
    for name in os.listdir(wheelhouse):
        if name.endswith(".whl"):
            parts = name[:-4].split("-")
        elif name.endswith((".tar.gz", ".zip")):
            stem = name[:-7] if name.endswith(".tar.gz") else name[:-4]
            parts = stem.rsplit("-", 1)
        else:
            continue
        if len(parts) >= 2:
            found[(normalize(parts[0]), parts[1])] = os.path.join(wheelhouse, name)
    return found
