"""ltrack's sandbox harness: install -> import -> load -> probe, each announced by a marker syscall.

Started by a driver as the sandbox's first process (uid 65534, read-only root, no network; the
driver bind-mounts the decoy secrets read-only into HOME) and held before its first real action:
it waits for the go-line (stdin, Docker) or is not even exec'd until released (bubblewrap's
--block-fd). The tracer attaches in between, so everything after go is observed. The plan comes in
LTRACK_PLAN (JSON, written by src/sandbox/plan.ts).
Phases are what the kernel sees of the markers (lth/channel.py); the channel file only adds details.
Interpreters run with -s: a user site folder in the writable HOME is no place to start code from.
"""
import importlib
import json
import os
import site
import sys
import time

from lth.channel import Channel
from lth.loaders import LOADERS, describe
from lth.probe import probe
from lth.util import site_dirs, top_level_modules

PLAN = json.loads(os.environ["LTRACK_PLAN"])
AFTER_INSTALL = "--after-install"


def wait_for_go():
    if PLAN["go"] != "stdin":
        return  # bubblewrap held the exec itself
    line = sys.stdin.buffer.readline()
    if line.strip() != b"go":
        sys.exit(70)  # the host gave up before releasing us: do nothing at all
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)


def install_phase(channel):
    # Imported only when there is something to install: the installers pull in yaml, zstandard,
    # tarfile, importlib.metadata (~0.7 s of interpreter time per vet). Still before the prefix
    # joins sys.path, so they come from the image.
    from lth import install_conda, install_pip

    deps = PLAN["deps"]
    prefix = PLAN["prefix"]
    os.makedirs(prefix, exist_ok=True)
    with channel.phase("install") as ph:
        ph.detail["kind"] = deps["kind"]
        if deps["kind"] == "pip":
            packages = install_pip.install(deps["path"], PLAN["wheelhouse"], prefix, ph)
        else:
            packages = install_conda.install(deps["path"], PLAN["wheelhouse"], prefix, ph)
        ph.detail["packages"] = packages


def import_phase(channel):
    with channel.phase("import") as ph:
        dirs = site_dirs(PLAN["prefix"])
        put_ahead_of_image(dirs)
        modules = sorted({m for d in dirs for m in top_level_modules(d)})
        imported, failed = [], {}
        for name in modules:
            try:
                importlib.import_module(name)
                imported.append(name)
            except BaseException as e:  # a payload may raise SystemExit; the harness carries on
                failed[name] = f"{type(e).__name__}: {e}"
        ph.detail.update(siteDirs=dirs, imported=imported, failed=failed)
        if failed:
            ph.fail(f"{len(failed)} of {len(modules)} modules failed to import")


def put_ahead_of_image(dirs):
    """Adds the install's site folders (running their .pth files, as the next interpreter start
    would) after the standard library but before the image's own site-packages: the versions the
    user's lock pins are the ones production runs, so they, not the image's, must load the model."""
    image_sites = set(site.getsitepackages())
    before = list(sys.path)
    for d in dirs:
        site.addsitedir(d)
    added = [p for p in sys.path if p not in before]
    at = next((i for i, p in enumerate(before) if p in image_sites), len(before))
    sys.path[:] = before[:at] + added + before[at:]


def load_phase(channel):
    loaded = []
    with channel.phase("load") as ph:
        results = []
        for model in PLAN["models"]:
            result = {"path": model["path"], "format": model["format"], "startNs": time.monotonic_ns()}
            loader = LOADERS.get(model["format"])
            try:
                if loader is None:
                    raise LookupError(f"no loader for format {model['format']!r}")
                obj = loader(model["path"])
                result.update(ok=True, type=describe(obj))
                loaded.append((model["path"], obj))
            except BaseException as e:
                result.update(ok=False, error=f"{type(e).__name__}: {e}")
                ph.fail(f"{model['path']}: {result['error']}")
            result["endNs"] = time.monotonic_ns()
            results.append(result)
        ph.detail["models"] = results
    return loaded


def probe_phase(channel, loaded):
    with channel.phase("probe") as ph:
        results = []
        for path, obj in loaded:
            try:
                action, outcome = probe(obj)
                results.append({"path": path, "action": action, "ok": True, "result": outcome})
            except BaseException as e:
                results.append({"path": path, "ok": False, "error": f"{type(e).__name__}: {e}"})
                ph.fail(f"{path}: {type(e).__name__}: {e}")
        ph.detail["objects"] = results


def after_install(channel):
    if PLAN["deps"]:
        import_phase(channel)
    loaded = load_phase(channel) if PLAN["models"] else []
    if loaded:
        probe_phase(channel, loaded)
    channel.emit("done")
    channel.mark("done")
    sys.stdout.flush()
    sys.stderr.flush()
    linger(PLAN["lingerSec"])


def linger(seconds):
    """Keeps the sandbox open (its first process is this one, or its parent waits for it) while
    processes the harness did not wait for are alive, up to `seconds`, so the tracer sees what a
    daemonised payload goes on to do. Only the length of the window depends on this: whether a
    process outlived the harness is read by the host from the kernel's fork and exit events."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and _others_alive():
        time.sleep(0.05)


def _others_alive():
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in (1, me):
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != b"Z":
            return True
    return False


def main():
    channel = Channel(PLAN["channel"], PLAN["markers"])
    if AFTER_INSTALL in sys.argv[1:]:
        after_install(channel)
        return
    wait_for_go()
    channel.mark("go")
    channel.emit("go", pid=os.getpid())
    if PLAN["deps"]:
        install_phase(channel)
        sys.stdout.flush()
        sys.stderr.flush()
        # A fresh interpreter (same pid, so the tracer's seed still holds) for import onwards:
        # a wheel's .pth payload runs at interpreter start-up, and it must be seen in this run.
        os.execv(sys.executable, [sys.executable, "-B", "-s", os.path.abspath(__file__), AFTER_INSTALL])
    after_install(channel)


if __name__ == "__main__":
    main()
