"""Small helpers shared by the installers."""
import hashlib
import os
import re


def file_digest(path, algorithm="sha256"):
    """Hex digest of a file, streamed (wheels and conda archives can be large)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def normalize(name):
    """PEP 503 name normalisation."""
    return re.sub(r"[-_.]+", "-", name).lower()


def files_under(root):
    for base, _dirs, files in os.walk(root):
        for name in files:
            yield os.path.join(base, name)


def site_dirs(prefix):
    """The site-packages/dist-packages folders an install put under prefix (Debian's pip picks its own scheme)."""
    found = []
    for base, dirs, _files in os.walk(prefix):
        for d in list(dirs):
            if d in ("site-packages", "dist-packages"):
                found.append(os.path.join(base, d))
                dirs.remove(d)
    return sorted(found)


def top_level_modules(site_dir):
    """Importable top-level names in a site dir: packages, single-file and native modules, not metadata."""
    ident = r"[A-Za-z_][A-Za-z0-9_]*"
    names = set()
    for entry in os.listdir(site_dir):
        path = os.path.join(site_dir, entry)
        if entry == "__pycache__" or entry.endswith((".dist-info", ".egg-info", ".pth", ".data")):
            continue
        if os.path.isdir(path) and re.fullmatch(ident, entry):
            names.add(entry)
        elif re.fullmatch(ident + r"\.py", entry):
            names.add(entry[:-3])
        elif re.fullmatch(ident + r"(\.[A-Za-z0-9_-]+)?\.so", entry):
            names.add(entry.split(".", 1)[0])
    return sorted(names)
