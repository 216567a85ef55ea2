"""The data dictionary in docs/ is the one the database's comments give, and every table and
column of the database has a comment."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import duckdb

from pipeline.dictionary import data_dictionary
from pipeline.paths import REPO_ROOT
from pipeline.stages.figures import FIGURE_IDS


def test_every_table_and_column_is_commented(sample_build: tuple[Path, Path]) -> None:
    with duckdb.connect(str(sample_build[0]), read_only=True) as con:
        tables = con.sql("SELECT table_name FROM duckdb_tables() WHERE comment IS NULL "
                         "OR comment = ''").fetchall()
        columns = con.sql("SELECT table_name, column_name FROM duckdb_columns() "
                          "WHERE schema_name = 'main' AND NOT internal "
                          "AND (comment IS NULL OR comment = '')"
                          ).fetchall()
        figures = con.sql("SELECT count(*) FROM duckdb_tables() "
                          "WHERE table_name LIKE 'fig\\_%' ESCAPE '\\'").fetchall()
    assert tables == [] and columns == []
    assert figures == [(len(FIGURE_IDS),)]


def test_data_dictionary_in_docs_is_current(sample_build: tuple[Path, Path]) -> None:
    with duckdb.connect(str(sample_build[0]), read_only=True) as con:
        generated = data_dictionary(con)
    committed = (REPO_ROOT / "docs" / "data-dictionary.md").read_text()
    assert committed == generated, ("docs/data-dictionary.md is stale: run `armtrace "
                                    "dictionary --out docs/data-dictionary.md` after a build")


def test_no_file_holds_a_merge_conflict_marker() -> None:
    """A merge left half done shows as a conflict marker in a doc or a source file."""
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True,
                             text=True, check=True).stdout.split()
    markers = re.compile(r"^(<<<<<<< |=======$|>>>>>>> )", re.MULTILINE)
    found = [name for name in tracked
             if Path(name).suffix in {".md", ".py", ".sql", ".toml", ".yaml", ".csv", ".txt"}
             and markers.search((REPO_ROOT / name).read_text(encoding="utf-8", errors="replace"))]
    assert found == []
