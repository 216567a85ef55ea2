"""CSV files that a spreadsheet opens as data, never as formulas.

Every CSV armtrace writes from data goes through `write_safe_csv`. Following OWASP's
CSV-injection guidance, a text cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage
return gets a leading single quote, so Excel, LibreOffice and Google Sheets show it as text
instead of evaluating it. Numeric, date and boolean columns are written as they are: a
negative number stays a number.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import polars.selectors as cs

FORMULA_START = r"^[=+\-@\t\r]"


def neutralise_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with every text cell that a spreadsheet would evaluate prefixed by `'`."""
    text = cs.string(include_categorical=True)
    return frame.with_columns(
        pl.when(text.cast(pl.String).str.contains(FORMULA_START))
        .then(pl.lit("'") + text.cast(pl.String))
        .otherwise(text.cast(pl.String))
        .name.keep()
    )


def write_safe_csv(frame: pl.DataFrame, path: Path | None = None) -> str | None:
    """Write `frame` as CSV to `path` (or return the text when `path` is None), neutralised."""
    return neutralise_formulas(frame).write_csv(path)
