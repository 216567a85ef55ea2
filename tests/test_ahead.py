"""computed_ahead: results in order, computed ahead on at most the threads asked for."""

from __future__ import annotations

import threading
import time
from contextlib import closing

import pytest

from pipeline.ahead import computed_ahead


class Recorder:
    """A slow square that records how many calls ran at once and which are still running."""

    def __init__(self) -> None:
        self.running: list[int] = []
        self.done: list[int] = []
        self.most = 0
        self.lock = threading.Lock()

    def slow_square(self, n: int) -> int:
        with self.lock:
            self.running.append(n)
            self.most = max(self.most, len(self.running))
        time.sleep(0.01 * (n % 3))  # later items may finish first
        with self.lock:
            self.running.remove(n)
            self.done.append(n)
        return n * n


@pytest.mark.parametrize("threads", [1, 2])
def test_results_keep_the_order_and_no_more_run_at_once_than_threads(threads: int) -> None:
    recorder = Recorder()
    assert list(computed_ahead(recorder.slow_square, range(9), threads)) == [
        n * n for n in range(9)]
    assert recorder.most == threads
    assert list(computed_ahead(recorder.slow_square, [], threads)) == []


def test_the_next_result_is_computed_while_the_caller_uses_this_one() -> None:
    recorder = Recorder()
    results = computed_ahead(recorder.slow_square, [1, 2], threads=1)
    assert next(results) == 1
    deadline = time.monotonic() + 5
    while recorder.done != [1, 2] and time.monotonic() < deadline:  # the caller at work
        time.sleep(0.01)
    assert recorder.done == [1, 2]
    assert next(results) == 4


def test_closing_early_waits_for_the_computation_under_way() -> None:
    recorder = Recorder()
    with closing(computed_ahead(recorder.slow_square, [3, 5, 6, 9], threads=1)) as results:
        assert next(results) == 9
    # 5 was under way: closing waited for it; 6 was never started
    assert not recorder.running and recorder.done == [3, 5]
