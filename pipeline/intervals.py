"""95% intervals for a share, from the share and the sample size it behaves as.

Every published share carries `n`, `effective_n` and an interval computed from the share,
`effective_n` and `n` (docs/figures.md, "Intervals"): items with the Wilson score interval on
`n` items, ammunition units with the Korn-Graubard interval (Clopper-Pearson on an effective
sample size) on an effective number of records, never narrower than Wilson on the records.
The functions take numpy arrays (or scalars) so that the figures stage and the coverage
benchmark (benchmarks/coverage.py) run the very same code.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import betaincinv, ndtri

from pipeline.tables import LOW_RELIABILITY_EFFECTIVE_N, LOW_RELIABILITY_WIDTH

ALPHA = 0.05
Z95 = float(ndtri(1 - ALPHA / 2))  # 1.959963984540054

Bounds = tuple[NDArray[np.float64], NDArray[np.float64]]


def _arrays(share: ArrayLike, n: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    share_array, n_array = np.broadcast_arrays(np.asarray(share, np.float64),
                                               np.asarray(n, np.float64))
    if np.any(~(n_array > 0)) or np.any(~((share_array >= 0) & (share_array <= 1))):
        raise ValueError("an interval needs a share in [0, 1] and a sample size above 0")
    return share_array, n_array


# The bounds nearest 0 and 1 a double can hold apart from them: an exact bound closer to 0 (1)
# than these is published as these, so that a share above 0 (below 1) always has a lower bound
# above 0 (an upper bound below 1). The interval narrows by less than 1.2e-16 at most.
SMALLEST_ABOVE_0 = float(np.nextafter(0.0, 1.0))
LARGEST_BELOW_1 = float(np.nextafter(1.0, 0.0))


def _within_0_and_1(p: NDArray[np.float64], low: NDArray[np.float64],
                    high: NDArray[np.float64]) -> Bounds:
    low = np.where(p == 0, 0.0, np.clip(low, SMALLEST_ABOVE_0, p))
    high = np.where(p == 1, 1.0, np.clip(high, p, LARGEST_BELOW_1))
    return low[()], high[()]  # [()]: a scalar for a scalar share


def wilson(share: ArrayLike, n: ArrayLike) -> Bounds:
    """Wilson score interval of a share observed on `n` independent draws (n need not be whole).

    Written as p^2 / (p + z^2/2n + z sqrt(p(1 - p)/n + z^2/4n^2)) for the lower bound (and
    the same for 1 - p for the upper), which is the textbook (centre - spread) / (1 + z^2/n)
    without its cancellation: near 0 that difference of two nearly equal numbers loses every
    digit. At a share of 0 (1) the lower (upper) bound is exactly 0 (1)."""
    p, n = _arrays(share, n)
    z2 = Z95 * Z95
    root = Z95 * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    low = p * p / (p + z2 / (2 * n) + root)
    high = 1 - (1 - p) ** 2 / ((1 - p) + z2 / (2 * n) + root)
    return _within_0_and_1(p, low, high)


def clopper_pearson(share: ArrayLike, n: ArrayLike) -> Bounds:
    """Clopper-Pearson interval of x = `share * n` successes in `n` draws, both possibly
    fractional (the beta-quantile form): the lower bound is the 2.5% quantile of
    Beta(x, n - x + 1), the upper one minus the 2.5% quantile of Beta(n - x, x + 1) (the
    97.5% quantile of Beta(x + 1, n - x), accurate near 1); 0 at x = 0 and 1 at x = n, which
    are the quantiles' limits, so the bounds move continuously as x reaches either end."""
    p, n = _arrays(share, n)
    x = p * n
    failures = (1 - p) * n
    with np.errstate(invalid="ignore", divide="ignore"):
        low = betaincinv(np.where(p == 0, 1.0, x), failures + 1, ALPHA / 2)
        high = 1 - betaincinv(np.where(p == 1, 1.0, failures), x + 1, ALPHA / 2)
    return _within_0_and_1(p, low, high)


def korn_graubard(share: ArrayLike, effective_n: ArrayLike, n: ArrayLike) -> Bounds:
    """Clopper-Pearson on the effective sample size, widened where needed to the Wilson interval
    on the `n` records themselves: no interval claims more than `n` independent records would
    give (the contract's floor). The floor is a hull of two continuous intervals, so it keeps
    the bounds continuous."""
    cp_low, cp_high = clopper_pearson(share, effective_n)
    floor_low, floor_high = wilson(share, n)
    return np.minimum(cp_low, floor_low), np.maximum(cp_high, floor_high)


def kish_effective_n(units: ArrayLike, squared_units: ArrayLike) -> NDArray[np.float64]:
    """Kish's effective sample size of records weighted by their units: (sum m)^2 / sum m^2.
    It is the number of records when they are all the same size and at most that otherwise
    (Cauchy-Schwarz); one record of 1,000 units and a hundred of 10 count as about 4."""
    total = np.asarray(units, np.float64)
    return total * total / np.asarray(squared_units, np.float64)


def linearised_effective_n(units: ArrayLike, squares: ArrayLike, known_units: ArrayLike,
                           known_squares: ArrayLike, records: ArrayLike) -> NDArray[np.float64]:
    """p (1 - p) / var(p), var the linearised (Taylor) variance of the ratio p = sum y / sum m
    with records as clusters (y: a record's units in the category, m: all its units):

        var(p) = n / (n - 1) * sum (y - p m)^2 / (sum m)^2,

    capped at the n records, and n where the variance is 0 (p = 0 or 1, or a single record):
    that is the formula's limit as p nears 0 or 1, so the cap keeps it continuous there.
    `units`, `squares`: the category's units and sum of squared record sizes; `known_*`: the
    same over the denominator. A record is wholly in the category or out of it, so the sum is
    (1 - p)^2 squares + p^2 (known_squares - squares)."""
    y, m, n = (np.asarray(a, np.float64) for a in (units, known_units, records))
    inside = np.asarray(squares)
    outside = (np.asarray(known_squares) - inside).astype(np.float64)  # exact in integers
    p = y / m
    with np.errstate(divide="ignore", invalid="ignore"):
        variance = (n / (n - 1) * ((1 - p) ** 2 * inside.astype(np.float64) + p * p * outside)
                    / (m * m))
        effective = p * (1 - p) / variance
    return np.where((n > 1) & (variance > 0), np.minimum(effective, n), n)


def units_effective_n(units: ArrayLike, squares: ArrayLike, known_units: ArrayLike,
                      known_squares: ArrayLike, records: ArrayLike) -> NDArray[np.float64]:
    """The effective number of records of a share of units: the smaller of Kish's (which
    assumes a record's size says nothing about its category) and the linearised one (which
    does not assume that, but is itself noisy and near n for a rare category). The coverage
    benchmark (docs/figures.md) chose it. At most n."""
    return np.minimum(kish_effective_n(known_units, known_squares),
                      linearised_effective_n(units, squares, known_units, known_squares,
                                             records))


def low_reliability(effective_n: ArrayLike, low: ArrayLike, high: ArrayLike) -> NDArray[np.bool_]:
    """The contract's flag: fewer than 30 effective observations, or an interval wider than
    0.30."""
    return ((np.asarray(effective_n) < LOW_RELIABILITY_EFFECTIVE_N)
            | (np.asarray(high) - np.asarray(low) > LOW_RELIABILITY_WIDTH))
