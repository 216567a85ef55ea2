"""One build at a time per curated folder.

An advisory lock (flock) on `<curated>/.armtrace.lock`. The kernel drops it when the holder
exits, however it exits (SIGKILL included), so a killed build never leaves a stale lock. The
file records who holds it, so a second build can say what it waits for.

The lock is re-entrant within a process: the CLI holds it around its up-to-date check and the
Dagster run it starts, and the run's resource takes it again (a no-op) so that runs started
from `dg dev` or the daemon are covered too.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_NAME = ".armtrace.lock"
POLL_SECONDS = 0.2

_held: dict[Path, int] = {}  # lock path -> nesting depth in this process


class BuildBusy(Exception):
    """Another build holds the lock; the message names it and says what to do."""


def _holder(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        return "another process"
    return text or "another process"


def _try_lock(handle: int, wait_seconds: float) -> bool:
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_SECONDS)


@contextmanager
def build_lock(curated_dir: Path, wait_seconds: float = 0.0) -> Iterator[Path]:
    """Hold the build lock of `curated_dir`, waiting up to `wait_seconds` for it."""
    curated_dir.mkdir(parents=True, exist_ok=True)
    path = (curated_dir / LOCK_NAME).resolve()
    if path in _held:
        _held[path] += 1
        try:
            yield path
        finally:
            _held[path] -= 1
        return
    handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if not _try_lock(handle, wait_seconds):
            raise BuildBusy(
                f"another build is writing to {curated_dir} ({_holder(path)}); wait for it to "
                f"finish, or pass --wait SECONDS to queue behind it")
        started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        os.ftruncate(handle, 0)
        os.write(handle, f"pid {os.getpid()}, started {started}\n".encode())
        _held[path] = 1
        try:
            yield path
        finally:
            del _held[path]
            os.ftruncate(handle, 0)
    finally:
        os.close(handle)  # closing the descriptor releases the flock
