"""One build at a time per output: per curated folder and per reports folder.

An advisory lock (flock) on `<curated>/.armtrace.lock` and one on `.<reports>.lock` beside the
reports folder (not in it: the folder is swapped), taken in path order so that two builds
sharing one of them cannot deadlock. The kernel drops a lock when its holder exits, however it
exits (SIGKILL included), so a killed build never leaves a stale lock. Each file records who
holds it, so a second build can say what it waits for.

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
from contextlib import ExitStack, contextmanager
from pathlib import Path

from pipeline.paths import Paths

LOCK_NAME = ".armtrace.lock"
POLL_SECONDS = 0.2

_held: dict[Path, int] = {}  # lock path -> nesting depth in this process


class BuildBusy(Exception):
    """Another build holds the lock; the message names it and says what to do."""


class LockUnwritable(Exception):
    """A lock file cannot be created (a read-only folder); the message says what to do."""


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


def lock_files(paths: Paths) -> dict[Path, Path]:
    """Each lock file of a build of `paths`, in the order they are taken, with the output
    folder it covers."""
    reports = paths.reports_dir
    files = {paths.curated_dir / LOCK_NAME: paths.curated_dir,
             reports.with_name(f".{reports.name}.lock"): reports}
    return dict(sorted(files.items()))


@contextmanager
def build_lock(paths: Paths, wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold the locks of the curated and the reports folder of `paths`, waiting up to
    `wait_seconds` in all for them. LockUnwritable when a lock file cannot be created."""
    deadline = time.monotonic() + wait_seconds
    with ExitStack() as held:
        for path, folder in lock_files(paths).items():
            held.enter_context(_hold(path, folder, max(0.0, deadline - time.monotonic())))
        yield


@contextmanager
def _hold(path: Path, folder: Path, wait_seconds: float) -> Iterator[None]:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise LockUnwritable(
            f"cannot write the lock file {path} ({error.strerror}): make {path.parent} "
            f"writable, or choose another folder with --curated or --reports") from None
    path = path.resolve()
    if path in _held:
        os.close(handle)
        _held[path] += 1
        try:
            yield
        finally:
            _held[path] -= 1
        return
    try:
        if not _try_lock(handle, wait_seconds):
            raise BuildBusy(
                f"another build is writing to {folder} ({_holder(path)}); wait for it to "
                f"finish, or pass --wait SECONDS to queue behind it")
        started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        os.ftruncate(handle, 0)
        os.write(handle, f"pid {os.getpid()}, started {started}\n".encode())
        _held[path] = 1
        try:
            yield
        finally:
            del _held[path]
            os.ftruncate(handle, 0)
    finally:
        os.close(handle)  # closing the descriptor releases the flock
