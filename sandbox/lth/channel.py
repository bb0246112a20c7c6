"""The phase channel: JSON lines on a file of the host-mounted out folder, never the payload's stdout.

Every record carries time.monotonic_ns(), the clock bpf_ktime_get_ns() reads, so the host can tag
kernel events with the phase they fall in.
"""
import json
import os
import time


class Channel:
    def __init__(self, path):
        # O_APPEND: the post-install interpreter (an exec of this one) keeps appending to the same file.
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)

    def emit(self, kind, **fields):
        record = {"kind": kind, "ns": time.monotonic_ns(), **fields}
        os.write(self._fd, (json.dumps(record, default=str) + "\n").encode())

    def phase(self, name):
        return _Phase(self, name)


class _Phase:
    """A phase boundary pair; the body fills `detail` and sets `ok`/`error` as it learns them."""

    def __init__(self, channel, name):
        self.channel, self.name = channel, name
        self.ok, self.error, self.detail = True, None, {}

    def __enter__(self):
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
