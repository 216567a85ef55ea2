"""`armtrace diff OLD.json NEW.json`: what a rebuild changed in the published figures.

Rows are matched by each figure's key columns. A number counts as changed past the tolerance
when |new - old| > tolerance * max(|old|, 1): an absolute tolerance for shares (fractions in
[0, 1]) and a relative one for counts. Rows or figures that appear or vanish always count.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIGURE_KEYS: dict[str, tuple[str, ...]] = {
    "documentation_summary": ("documented_in",),
    "weapons_by_origin": ("documented_in", "country"),
    "ammunition_by_origin": ("documented_in", "country"),
    "calibre_family": ("item_kind", "documented_in", "family"),
    "manufacture_period": ("item_kind", "documented_in", "period"),
    "manufacture_year": ("item_kind", "documented_in", "year"),
    "eu_share": ("item_kind", "documented_in"),
    "anti_armour_recent": ("documented_in", "recent_from"),
    "diversion_chains": ("record_id", "transfer_id"),
}


@dataclass(frozen=True)
class Change:
    kind: str  # changed, appeared, vanished
    figure: str
    key: tuple[Any, ...] = ()
    column: str | None = None
    old: Any = None
    new: Any = None
    past_tolerance: bool = True
    key_columns: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line for a reader: shares as percentages with two decimals, other decimals to
        four significant digits (`--format json` has the exact values)."""
        where = f"{self.figure}[{', '.join(map(str, self.key))}]" if self.key else self.figure
        if self.kind != "changed":
            return f"{self.kind:<9}{where}"
        share = is_share(self.column or "")
        flag = "" if self.past_tolerance else "  (within tolerance)"
        return (f"changed  {where}.{self.column}: {readable(self.old, share)} -> "
                f"{readable(self.new, share)}{_difference(self.old, self.new, share)}{flag}")

    def as_json(self) -> dict[str, Any]:
        """The change with its exact values, and the key by column name."""
        return {"kind": self.kind, "figure": self.figure,
                "key": dict(zip(self.key_columns, self.key, strict=True)),
                "column": self.column, "old": self.old, "new": self.new,
                "difference": _numeric_difference(self.old, self.new),
                "past_tolerance": self.past_tolerance}


def is_share(column: str) -> bool:
    """A share or a bound of its interval: a fraction in [0, 1] (figures contract)."""
    return column == "share" or column.endswith(("_share", "ci_low", "ci_high"))


def readable(value: Any, share: bool) -> str:
    if value is None:
        return "empty"
    if isinstance(value, float) and share:
        return f"{value:.2%}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _numeric_difference(old: Any, new: Any) -> int | float | None:
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (old, new))
    return new - old if numbers else None


def _difference(old: Any, new: Any, share: bool) -> str:
    """` (+1.25 pp)` for a share, ` (+17, +2.1%)` for a count, ` (+0.0123)` otherwise."""
    difference = _numeric_difference(old, new)
    if difference is None:
        return ""
    if share:
        points = difference * 100
        return f" ({points:+.2f} pp)" if abs(points) >= 0.005 else f" ({points:+.2g} pp)"
    if isinstance(difference, int) and old:
        return f" ({difference:+,}, {difference / abs(old):+.2%})"
    if isinstance(difference, int):
        return f" ({difference:+,})"
    return f" ({difference:+.4g})"


def summary_line(changes: list[Change], tolerance: float) -> str:
    past = sum(change.past_tolerance for change in changes)
    return f"{len(changes)} differences, {past} past the tolerance of {tolerance:g}"


def _key_columns(figure: str, row: dict[str, Any]) -> tuple[str, ...]:
    return FIGURE_KEYS.get(figure, tuple(k for k, v in row.items() if isinstance(v, str)))


def _indexed(figure: str, rows: list[dict[str, Any]]) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {tuple(row.get(c) for c in _key_columns(figure, row)): row for row in rows}


def _past(old: Any, new: Any, tolerance: float) -> bool:
    if isinstance(old, int | float) and isinstance(new, int | float) and not isinstance(
            old, bool):
        return abs(new - old) > tolerance * max(abs(old), 1)
    return old != new


def compare(old: dict[str, Any], new: dict[str, Any], tolerance: float) -> list[Change]:
    """Every difference between the figures of two statistics.json documents."""
    changes: list[Change] = []
    old_figures, new_figures = old.get("figures", {}), new.get("figures", {})
    for figure in sorted(old_figures.keys() - new_figures.keys()):
        changes.append(Change("vanished", figure))
    for figure in sorted(new_figures.keys() - old_figures.keys()):
        changes.append(Change("appeared", figure))
    for figure in sorted(old_figures.keys() & new_figures.keys()):
        before = _indexed(figure, old_figures[figure])
        after = _indexed(figure, new_figures[figure])
        changes += [Change("vanished", figure, key, key_columns=_key_columns(figure, before[key]))
                    for key in sorted(before.keys() - after.keys(), key=str)]
        changes += [Change("appeared", figure, key, key_columns=_key_columns(figure, after[key]))
                    for key in sorted(after.keys() - before.keys(), key=str)]
        for key in sorted(before.keys() & after.keys(), key=str):
            columns = _key_columns(figure, before[key])
            for column in dict.fromkeys([*before[key], *after[key]]):  # a new column too
                was, now = before[key].get(column), after[key].get(column)
                if was != now:
                    changes.append(Change("changed", figure, key, column, was, now,
                                          _past(was, now, tolerance), columns))
    return changes


def load(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"cannot read {path}: {error}") from None
    if not isinstance(document, dict) or "figures" not in document:
        raise ValueError(f"{path} is not a statistics.json (it has no 'figures')")
    return document


def context_lines(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What else differs: the settings, the input and the software behind the figures."""
    lines = []
    for part in ("settings", "libraries"):
        before, after = old.get(part) or {}, new.get(part) or {}
        if not isinstance(before, dict) or not isinstance(after, dict):
            if before != after:
                lines.append(f"{part}: {before} -> {after}")
            continue
        for name in sorted(before.keys() | after.keys()):  # only what differs, by name
            if before.get(name) != after.get(name):
                lines.append(f"{part}: {name} {before.get(name, 'absent')} -> "
                             f"{after.get(name, 'absent')}")
    old_input, new_input = old.get("input", {}), new.get("input", {})
    if old_input.get("sha256") == new_input.get("sha256"):
        return lines
    for listing, label in (("files", "input"), ("reference_files", "reference"),
                           ("correction_files", "corrections")):
        old_files = {f["path"]: f["sha256"] for f in old_input.get(listing, [])}
        new_files = {f["path"]: f["sha256"] for f in new_input.get(listing, [])}
        for path in sorted(old_files.keys() | new_files.keys()):
            if old_files.get(path) != new_files.get(path):
                state = ("added" if path not in old_files else
                         "removed" if path not in new_files else "changed")
                lines.append(f"{label} {state}: {path}")
    return lines
