"""install phase, conda without conda: a lock's packages from a local channel, extracted into the
prefix, with their pre-/post-link scripts run the way conda runs them (bash, PREFIX/PKG_* set).

Lock forms: `@EXPLICIT` lists (URL#md5 or #sha256 per line), conda-lock.yml (package: entries with
url and hash) and environment.yml (name=version[=build] specs, matched against the channel folder).
Archives: .tar.bz2 (one tar) and .conda (a zip of info-*.tar.zst and pkg-*.tar.zst).
"""
import io
import json
import os
import posixpath
import subprocess
import tarfile
import zipfile

import yaml
import zstandard

from .util import file_digest, files_under


class CondaError(Exception):
    pass


def parse_lock(path):
    """-> list of {file, md5?, sha256?} or {name, version?, build?}, by the lock's form."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if "@EXPLICIT" in text:
        return _explicit(text)
    doc = yaml.safe_load(text)
    if isinstance(doc, dict) and isinstance(doc.get("package"), list):
        return _conda_lock(doc)
    if isinstance(doc, dict) and isinstance(doc.get("dependencies"), list):
        return _environment(doc)
    raise CondaError(f"{path}: not an @EXPLICIT list, conda-lock.yml or environment.yml")


def _explicit(text):
    wanted, seen = [], False
    for line in text.splitlines():
        line = line.strip()
        if line == "@EXPLICIT":
            seen = True
        elif seen and line and not line.startswith("#"):
            url, _, digest = line.partition("#")
            entry = {"file": posixpath.basename(url)}
            if len(digest) == 32:
                entry["md5"] = digest
            elif len(digest) == 64 or digest.startswith("sha256:"):
                entry["sha256"] = digest.removeprefix("sha256:")
            wanted.append(entry)
    return wanted


def _conda_lock(doc):
    wanted = []
    for pkg in doc["package"]:
        if pkg.get("manager", "conda") != "conda" or pkg.get("platform", "linux-64") not in ("linux-64", "noarch"):
            continue
        entry = {"file": posixpath.basename(pkg.get("url", "")), "name": pkg.get("name")}
        entry.update({k: v for k, v in (pkg.get("hash") or {}).items() if k in ("md5", "sha256")})
        wanted.append(entry)
    return wanted


def _environment(doc):
    wanted = []
    for dep in doc["dependencies"]:
        if not isinstance(dep, str):
            continue  # a nested `pip:` list: pip's business, not a conda package
        name, _, rest = dep.replace("==", "=").partition("=")
        version, _, build = rest.partition("=")
        wanted.append({"name": name.strip(), "version": version.strip() or None, "build": build.strip() or None})
    return wanted


def _channel_index(channel):
    return {os.path.basename(p): p for p in files_under(channel) if p.endswith((".conda", ".tar.bz2"))}


def _find(entry, index):
    if entry.get("file"):
        path = index.get(entry["file"])
        if not path:
            raise CondaError(f"{entry['file']} is not in the local channel")
        return path
    prefix = f"{entry['name']}-"
    for fname, path in sorted(index.items()):
        stem = fname.removesuffix(".conda").removesuffix(".tar.bz2")
        if not stem.startswith(prefix):
            continue
        version, _, build = stem[len(prefix):].rpartition("-")
        if "-" in version:
            continue  # a longer package name that shares this prefix
        if entry.get("version") not in (None, version.split("-")[0]) and entry.get("version") != version:
            continue
        if entry.get("build") not in (None, build):
            continue
        return path
    raise CondaError(f"no archive for {entry['name']} {entry.get('version') or ''} in the local channel")


def _check_digest(entry, path):
    if "sha256" in entry and file_digest(path) != entry["sha256"]:
        raise CondaError(f"{os.path.basename(path)}: sha256 does not match the lock")
    if "md5" in entry and file_digest(path, "md5") != entry["md5"]:
        raise CondaError(f"{os.path.basename(path)}: md5 does not match the lock")


def _safe_members(tar, dest):
    """Refuse members that would land outside dest (absolute, .., links out, devices)."""
    root = os.path.realpath(dest)
    for m in tar:
        target = os.path.realpath(os.path.join(root, m.name))
        if not (target == root or target.startswith(root + os.sep)):
            raise CondaError(f"archive member {m.name!r} escapes the prefix")
        if m.islnk() or m.issym():
            link = os.path.realpath(os.path.join(os.path.dirname(target), m.linkname)) if m.issym() else os.path.realpath(os.path.join(root, m.linkname))
            if not (link == root or link.startswith(root + os.sep)):
                raise CondaError(f"archive link {m.name!r} -> {m.linkname!r} escapes the prefix")
        if m.isdev() or m.isfifo():
            raise CondaError(f"archive member {m.name!r} is a device or fifo")
        m.mode &= 0o755  # no setuid bits even if they could not take effect here
        yield m


def _extract(path, dest):
    os.makedirs(dest, exist_ok=True)
    if path.endswith(".tar.bz2"):
        with tarfile.open(path, "r:bz2") as tar:
            tar.extractall(dest, members=_safe_members(tar, dest))
        return
    with zipfile.ZipFile(path) as z:
        for member in z.namelist():
            if member.endswith(".tar.zst"):
                raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(z.read(member)))
                with tarfile.open(fileobj=raw, mode="r|") as tar:
                    tar.extractall(dest, members=_safe_members(tar, dest))


def _relocate(prefix, staged):
    """conda rewrites the build prefix placeholder in listed files; do the same for text files."""
    paths_json = os.path.join(staged, "info", "paths.json")
    if not os.path.exists(paths_json):
        return
    with open(paths_json, encoding="utf-8") as f:
        paths = json.load(f).get("paths", [])
    for p in paths:
        placeholder = p.get("prefix_placeholder")
        if placeholder and p.get("file_mode", "text") == "text":
            target = os.path.join(prefix, p["_path"])
            if os.path.isfile(target):
                with open(target, "rb") as f:
                    data = f.read()
                with open(target, "wb") as f:
                    f.write(data.replace(placeholder.encode(), prefix.encode()))


def _run_link_script(prefix, kind, index, phase):
    script = os.path.join(prefix, "bin", f".{index['name']}-{kind}.sh")
    if not os.path.exists(script):
        return
    env = dict(os.environ, PREFIX=prefix, PKG_NAME=index["name"], PKG_VERSION=index.get("version", ""),
               PKG_BUILDNUM=str(index.get("build_number", "")), SOURCE_PREFIX=prefix)
    proc = subprocess.run(["/bin/bash", script], cwd=prefix, env=env, stdin=subprocess.DEVNULL)
    phase.detail.setdefault("linkScripts", []).append({"package": index["name"], "kind": kind, "exit": proc.returncode})
    if proc.returncode != 0:
        raise CondaError(f"{index['name']} {kind} script exited {proc.returncode}")


def install(lock_path, channel, prefix, phase):
    if not channel or not os.path.isdir(channel):
        raise CondaError("a conda lock needs a local channel folder (--wheelhouse)")
    index = _channel_index(channel)
    packages = []
    for entry in parse_lock(lock_path):
        path = _find(entry, index)
        _check_digest(entry, path)
        staged = os.path.join(os.path.dirname(prefix), "conda-pkgs", os.path.basename(path).removesuffix(".conda").removesuffix(".tar.bz2"))
        _extract(path, staged)
        with open(os.path.join(staged, "info", "index.json"), encoding="utf-8") as f:
            meta = json.load(f)
        # pre-link runs from the extracted package before its files reach the prefix, as conda does.
        pre = os.path.join(staged, "bin", f".{meta['name']}-pre-link.sh")
        if os.path.exists(pre):
            os.makedirs(os.path.join(prefix, "bin"), exist_ok=True)
            os.replace(pre, os.path.join(prefix, "bin", os.path.basename(pre)))
            _run_link_script(prefix, "pre-link", meta, phase)
        _extract(path, prefix)
        _relocate(prefix, staged)
        _run_link_script(prefix, "post-link", meta, phase)
        packages.append({"name": meta["name"], "version": str(meta.get("version", "")), "sha256": file_digest(path)})
    return packages
