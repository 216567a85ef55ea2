"""The curated database opens in the DuckDB clients analysts have: 1.x from the long-term-
support release (1.4) on, not only the DuckDB that wrote it."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import duckdb
import pytest

from pipeline.paths import REPO_ROOT

OLDEST_CLIENT_VENV = REPO_ROOT / ".venv-duckdb-lts"
READ_EVERY_TABLE = """
import json, sys
import duckdb

with duckdb.connect(sys.argv[1], read_only=True) as con:
    tables = [name for (name,) in con.sql(
        "SELECT table_name FROM duckdb_tables() ORDER BY table_name").fetchall()]
    rows = {name: con.sql(f'SELECT * FROM "{name}" ORDER BY ALL').fetchall() for name in tables}
    (comment,) = con.sql("SELECT comment FROM duckdb_tables() WHERE table_name = 'items'"
                         ).fetchone()
print(json.dumps({"version": duckdb.__version__, "rows": rows, "comment": comment},
                 default=str))
"""


def oldest_client_version() -> str:
    """The version `make test` installs (the Makefile's DUCKDB_OLDEST_CLIENT)."""
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    match = re.search(r"^DUCKDB_OLDEST_CLIENT := (\S+)$", makefile, re.MULTILINE)
    assert match, "the Makefile names the oldest DuckDB client"
    return match.group(1)


def read_every_table(python: str, database: Path) -> dict:
    done = subprocess.run([python, "-c", READ_EVERY_TABLE, str(database)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_oldest_documented_client_reads_every_table_of_a_build(
        sample_build: tuple[Path, Path]) -> None:
    python = OLDEST_CLIENT_VENV / "bin" / "python"
    if not python.exists():
        pytest.skip(f"no DuckDB {oldest_client_version()} client in {OLDEST_CLIENT_VENV.name}/: "
                    f"`make test` (or `make oldest-duckdb-client`) makes it, which needs PyPI")
    database = sample_build[0]
    old = read_every_table(str(python), database)
    assert old["version"] == oldest_client_version()
    with duckdb.connect(str(database), read_only=True) as con:
        tables = [name for (name,) in con.sql("SELECT table_name FROM duckdb_tables() "
                                              "ORDER BY table_name").fetchall()]
        rows = {name: con.sql(f'SELECT * FROM "{name}" ORDER BY ALL').fetchall()
                for name in tables}
        ((comment,),) = con.sql("SELECT comment FROM duckdb_tables() "
                                "WHERE table_name = 'items'").fetchall()
    assert "items" in tables and len(old["rows"]["items"]) > 2000
    assert old["rows"] == json.loads(json.dumps(rows, default=str))
    assert old["comment"] == comment and comment.startswith("Curated items")


def test_the_readme_names_the_oldest_client_the_tests_use() -> None:
    version = oldest_client_version()
    assert re.fullmatch(r"1\.4\.\d+", version), "the long-term-support release, 1.4"
    assert f"DuckDB {version}" in (REPO_ROOT / "README.md").read_text(encoding="utf-8")
