"""95% intervals for a share, from the share and the sample size it behaves as.

Every published share carries `n`, `effective_n` and an interval computed from the share and
`effective_n` alone (docs/figures.md, "Intervals"): items with the Wilson score interval on
`n` items, ammunition units with the Korn-Graubard interval (Clopper-Pearson on an effective
sample size) on Kish's effective number of records. The functions take numpy arrays (or
scalars) so that the figures stage and the coverage benchmark (benchmarks/coverage.py) run the
very same code.
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


def wilson(share: ArrayLike, n: ArrayLike) -> Bounds:
    """Wilson score interval of a share observed on `n` independent draws (n need not be whole).

    At a share of 0 (1) the lower (upper) bound is exactly 0 (1): computed, it drifts by a
    rounding error."""
    p, n = _arrays(share, n)
    z2 = Z95 * Z95
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    spread = Z95 * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    low = np.where(p == 0, 0.0, np.clip(centre - spread, 0.0, 1.0))
    high = np.where(p == 1, 1.0, np.clip(centre + spread, 0.0, 1.0))
    return low, high


def clopper_pearson(share: ArrayLike, n: ArrayLike) -> Bounds:
    """Clopper-Pearson interval of `share * n` successes in `n` draws, both possibly fractional
    (the beta-quantile form): the lower bound is the 2.5% quantile of Beta(x, n - x + 1), the
    upper the 97.5% quantile of Beta(x + 1, n - x); 0 at x = 0 and 1 at x = n, which are the
    limits of the quantiles, so the bounds move continuously as x reaches either end."""
    p, n = _arrays(share, n)
    x = p * n
    with np.errstate(invalid="ignore", divide="ignore"):
        low = np.where(p == 0, 0.0, betaincinv(np.where(p == 0, 1.0, x), n - x + 1, ALPHA / 2))
        high = np.where(p == 1, 1.0,
                        betaincinv(x + 1, np.where(p == 1, 1.0, n - x), 1 - ALPHA / 2))
    return low, high


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
    (Cauchy-Schwarz); a record of 1,000 units among a hundred of 10 counts about twice."""
    total = np.asarray(units, np.float64)
    return total * total / np.asarray(squared_units, np.float64)


def low_reliability(effective_n: ArrayLike, low: ArrayLike, high: ArrayLike) -> NDArray[np.bool_]:
    """The contract's flag: fewer than 30 effective observations, or an interval wider than
    0.30."""
    return ((np.asarray(effective_n) < LOW_RELIABILITY_EFFECTIVE_N)
            | (np.asarray(high) - np.asarray(low) > LOW_RELIABILITY_WIDTH))
