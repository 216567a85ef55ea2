"""Results computed on threads ahead of the loop that uses them, in order.

Two loops use it: clean normalises the next slices while a part is written, and a GX suite
has the next columns collected while GX validates the current ones. Both hand work to
polars or DuckDB, which release the GIL.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

X = TypeVar("X")
Y = TypeVar("Y")


def computed_ahead(function: Callable[[X], Y], items: Iterable[X], threads: int) -> Iterator[Y]:
    """function(item) for each item, in order, on `threads` threads. While the caller uses
    one result, the next is computed; while it waits for that one, the one after is started
    too if a thread is free. Beside the result the caller holds, at most two are held or
    under way. With one thread, `function` never runs twice at once, as a DuckDB
    connection requires (it refuses a second call).

    Close the iterator (contextlib.closing) when the caller may stop early: closing waits
    for the computation under way, so that nothing runs on after the caller has moved on."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        pending: deque[Future[Y]] = deque()
        for item in items:
            pending.append(pool.submit(function, item))
            if len(pending) == 2:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
