"""The installed `armtrace` command: Ctrl-C and SIGTERM are handled before anything is imported.

Importing the CLI (DuckDB, polars, then Dagster) takes seconds; an interrupt during it used
to end in a traceback. Here the signals are caught first, and stop the command with one line
and exit code 128 + the signal's number. Stopping at once is safe wherever it lands: a build
publishes through a journal and survives SIGKILL (docs/decisions/publishing.md), the lock
dies with the process, and the suites' process exits with its parent. During a Dagster run,
Dagster takes both signals over and fails the step under way; `armtrace build` then reports
the interruption the same way (pipeline/cli.py).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from types import FrameType
from typing import NoReturn


def _stop(number: int, _: FrameType | None) -> None:
    name = signal.Signals(number).name
    with contextlib.suppress(OSError):  # standard error closed: stop all the same
        os.write(2, f"armtrace: stopped by {name}; a build stopped this way leaves the "
                    f"published database and reports whole, and the next build clears what it "
                    f"left\n".encode())
    os._exit(128 + number)


def run() -> NoReturn:
    """The `armtrace` command: `main`, then exit without tearing the interpreter down.

    Python's teardown garbage-collects every object a build left (Dagster's, pydantic's,
    altair's): about 1 s after the build's last line, 8% of the shipped sample's build
    (py-spy: `gc_collect_main` once `main` has returned). By then every file, connection,
    lock and process the command opened is closed; only the output buffers are left to
    flush.
    """
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    # A command stopped by _stop leaves multiprocessing's resource tracker (a process of its
    # own, started with this interpreter's -W options) to release the semaphores it held; it
    # does, and says "There appear to be N leaked semaphore objects" on standard error after
    # our one line. The release is the tracker's job and happens all the same: not a warning.
    sys.warnoptions.append("ignore:resource_tracker:UserWarning")
    try:
        from pipeline.cli import main

        try:
            code = main()
        except SystemExit as exit:  # argparse: --help, or a wrong flag (one line, code 2)
            code = exit.code if isinstance(exit.code, int) else int(exit.code is not None)
        sys.stdout.flush()
    except BrokenPipeError:  # the reader went away (`armtrace sql ... | head`): stop quietly
        code = 1
    with contextlib.suppress(OSError):
        sys.stderr.flush()
    os._exit(code)
