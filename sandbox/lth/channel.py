"""Phase markers and the phase channel.

Markers decide phases: at each boundary the harness opens <markers>/<name>, a path that never
exists, and the host's tracer sees that failed open with the kernel's clock and this process's
tgid (src/vet/phases.ts). The candidate can open such paths too; the host accepts a marker only
from the harness's process, once, in the harness's order, and reports anything else as forged.

The channel (JSON lines on a file of the host-mounted out folder, never the payload's stdout)
only carries what the harness learnt: ok/error and details per phase. The candidate runs as the
same user and can append to it, so the host treats it as untrusted information, never as
evidence and never as a clock.
"""
import json
import os
import time


class Channel:
    def __init__(self, path, markers):
        # O_APPEND: the post-install interpreter (an exec of this one) keeps appending to the same file.
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        self._markers = markers

    def mark(self, name):
        """The marker syscall: an open that fails (ENOENT) and that the tracer reports."""
        try:
            os.close(os.open(os.path.join(self._markers, name), os.O_RDONLY | os.O_CLOEXEC))
        except OSError:
            pass

    def emit(self, kind, **fields):
        record = {"kind": kind, "ns": time.monotonic_ns(), **fields}
        os.write(self._fd, (json.dumps(record, default=str) + "\n").encode())

    def phase(self, name):
        return _Phase(self, name)


class _Phase:
    """A phase: its marker first, then the body fills `detail` and sets `ok`/`error` as it learns them."""

    def __init__(self, channel, name):
        self.channel, self.name = channel, name
        self.ok, self.error, self.detail = True, None, {}

    def __enter__(self):
        self.channel.mark(self.name)
        self.channel.emit("phase", phase=self.name, edge="start")
        return self

    def fail(self, error):
        self.ok = False
        self.error = self.error or error

    def __exit__(self, exc_type, exc, tb):
        if exc is not None:
            self.fail(f"{exc_type.__name__}: {exc}")
        self.channel.emit("phase", phase=self.name, edge="end", ok=self.ok, error=self.error, detail=self.detail)
        # A payload's exception ends its phase but not the harness: later phases still run and are seen.
        return exc is not None and not isinstance(exc, KeyboardInterrupt)
