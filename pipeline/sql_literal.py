"""SQL text literals, for the few statements that cannot take a parameter (DDL, ATTACH,
COMMENT ON, a table macro's argument in a relation that is projected further)."""

from __future__ import annotations


def sql_string(text: str) -> str:
    """`text` as a SQL string literal: quoted, its quotes doubled (DuckDB reads no backslash
    escapes in a standard string, so nothing else needs escaping)."""
    return "'" + text.replace("'", "''") + "'"
