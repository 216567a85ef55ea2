"""Where the GX suites run when not in the build's process: a spawned Python process.

A large build validates each suite in a process of its own, whose memory goes when it ends
(`in_own_process`). Importing GX takes seconds, so a process can be started ahead, the
spare, to import it while the build works on something else (`start_spare_process`). A small
build has one started early (`start_spare_for_small_build`) and runs both suites in it: from
the command line before Dagster is even imported, in a run Dagster launches as the run starts
(the `suite_process` resource). The build's process imported GX for 4 s or more, one core
busy and the other idle (docs/decisions/validation.md).

No Dagster here: the command line imports this module before Dagster, which takes 3 s.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from pipeline.stages.discover import RawFolderError, walk_raw_folder

T = TypeVar("T")

SUITES_IN_OWN_PROCESS_ABOVE = 2_000_000
"""Above this many rows a GX suite runs in a process of its own. GX's pandas copies and the
allocators behind them kept 1.3 to 1.9 GiB at ten million rows after the suite ended, which
the next steps' memory stacked on; a process's memory goes when it ends. Below it, in the
build's process, unless a spare was started for a small build."""

SMALL_BUILD_LOG_BYTES = 320 * 1024**2
"""Item logs of at most this many bytes make a small build: about SUITES_IN_OWN_PROCESS_ABOVE
rows of the synthetic sample (160 bytes a row; the shipped sample's logs are 0.4 MB), the
builds whose suites would otherwise import GX in the build's process. Measured with the
spare and without (docs/decisions/validation.md): the shipped sample 22.5-22.9 -> 16.1-18.7 s, a
million rows 39.0-40.8 -> 35.8-37.1 s (normalising 2 to 3 s slower beside the import, the
parsed-rows suite 4.5 s sooner). Above it the suites run in processes of their own anyway
(in_own_process), started while the build works."""

_spare: ProcessPoolExecutor | None = None


def start_spare_process() -> None:
    """Start the process the next in_own_process or in_spare_process call will run in, and
    have it import what the suites need, so that its start-up (Python, polars, DuckDB and GX:
    about 3.5 s) overlaps the steps before that call instead of delaying it. It holds about
    0.3 GiB while it waits."""
    global _spare
    if _spare is None:
        _spare = _new_process()
        with _children_ignore_ctrl_c():  # the pool starts its process on the first submit
            _spare.submit(import_gx)


def import_gx() -> None:
    """Import GX, which takes seconds: what the spare does while it waits."""
    import great_expectations  # noqa: F401


def start_spare_for_small_build(raw_dir: Path) -> bool:
    """Start the spare (start_spare_process) when the item logs under `raw_dir` make a small
    build (SMALL_BUILD_LOG_BYTES) and GX is not imported here already (as in a test session,
    where the suites then cost the build nothing to start). Whether it was started."""
    if "great_expectations" in sys.modules or item_log_bytes(raw_dir) > SMALL_BUILD_LOG_BYTES:
        return False
    start_spare_process()
    return True


def item_log_bytes(raw_dir: Path) -> int:
    """Bytes of the files under raw_dir/items (a build's row count is not known before it
    reads them)."""
    try:
        entries = walk_raw_folder(raw_dir / "items")
    except RawFolderError:  # no items folder, or an unreadable one: the build reports it
        return 0
    return sum(entry.status.st_size for entry in entries
               if entry.refused is None and entry.status is not None)


def spare_process_started() -> bool:
    return _spare is not None


def in_spare_process(function: Callable[..., T], *args: Any) -> T:
    """function(*args) in the spare process, which stays for the next call. Only for work
    whose memory may stay (a small build's suites)."""
    if _spare is None:
        raise RuntimeError("no spare process: call start_spare_process first")
    return _spare.submit(function, *args).result()


def in_own_process(function: Callable[..., T], *args: Any,
                   meanwhile: Callable[[], None] | None = None) -> T:
    """function(*args) in a new Python process (spawned, so nothing of this one is shared),
    which is ended once it returns: the spare process if one was started
    (start_spare_process), else one started now. meanwhile() runs here while the process
    works."""
    global _spare
    pool, _spare = _spare or _new_process(), None
    try:
        with _children_ignore_ctrl_c():
            result = pool.submit(function, *args)
        if meanwhile is not None:
            meanwhile()
        return result.result()
    finally:
        _end(pool)


def stop_spare_process() -> None:
    """End the spare process, if one was started, at once (importing or waiting): when no
    suite will need it."""
    global _spare
    if _spare is not None:
        _end(_spare)
        _spare = None


def _new_process() -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_exit_with_parent, initargs=(os.getpid(),))


@contextlib.contextmanager
def _children_ignore_ctrl_c() -> Iterator[None]:
    """Processes started meanwhile start with SIGINT ignored, and Python keeps it so. A Ctrl-C,
    which a terminal sends to the whole process group, is the build's to handle
    (pipeline/command.py): a suite's process starting up printed a traceback."""
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous is None:
        yield
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _exit_with_parent(parent: int) -> None:
    """In a suite's process: exit as soon as the build that started it is gone. A build killed
    (SIGKILL) left its process waiting for work that would never come, holding 0.3 GiB or
    more, for good."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _end(pool: ProcessPoolExecutor) -> None:
    """End the pool's process now rather than let it exit: its teardown (GX, pandas) took
    1.5 s that the build waited for, and a failed build waited for its GX import. The work
    it did is complete once its result is back; run_suite leaves it no multiprocessing lock
    to release. (Python 3.14 has ProcessPoolExecutor.terminate_workers.)"""
    for process in list(pool._processes.values()):
        process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)
