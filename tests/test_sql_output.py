"""`armtrace sql` output: every type in every format, row limits, and the terminal's width."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from pipeline.cli import main
from pipeline.sql_output import DEFAULT_TABLE_ROWS

FORMATS = ("csv", "json", "markdown", "table")
NON_SCALAR = """
SELECT [1, NULL, 3] AS list, {'name': 'Mosul', 'sites': ['a', 'b']} AS struct,
       MAP {'AKM': 2, 'PG-7VL': 12} AS map, INTERVAL 2 MONTH + INTERVAL 3 DAY AS interval,
       [INTERVAL 1 DAY] AS intervals, 1234.50::DECIMAL(10, 2) AS decimal,
       '4f1c8a9e-0e0c-4b5f-9b8e-1f2d3c4b5a69'::UUID AS uuid, '\\xAA\\x00'::BLOB AS blob,
       TIMETZ '12:30:00+02' AS time_tz, 170141183460469231731687303715884105727::HUGEINT AS huge,
       union_value(n := 2) AS union_value, [1.5, 'nan'::DOUBLE] AS floats,
       'infinity'::DOUBLE AS infinite, '=HYPERLINK("x")' AS formula, -7 AS negative
"""


def strict_json(text: str) -> object:
    """JSON as a strict parser reads it: NaN and Infinity are not JSON."""
    def refuse(word: str) -> None:
        raise ValueError(f"not JSON: {word}")
    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def empty_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A curated folder with an empty database: the queries above need no tables."""
    curated = tmp_path_factory.mktemp("empty")
    duckdb.connect(str(curated / "armtrace.duckdb")).close()
    return curated


def sql(capsys: pytest.CaptureFixture[str], curated: Path, query: str,
        *flags: str) -> tuple[int, str, str]:
    code = main(["sql", query, "--curated", str(curated), *flags])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_non_scalar_values_in_json_are_json_values(
        empty_database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = sql(capsys, empty_database, NON_SCALAR, "--format", "json")
    assert code == 0
    (row,) = strict_json(out)
    assert row["list"] == [1, None, 3]
    assert row["struct"] == {"name": "Mosul", "sites": ["a", "b"]}
    assert row["map"] == {"AKM": 2, "PG-7VL": 12}
    assert row["interval"] == "2 months 3 days"
    assert row["intervals"] == ["1 day"]
    assert row["decimal"] == 1234.5
    assert row["uuid"] == "4f1c8a9e-0e0c-4b5f-9b8e-1f2d3c4b5a69"
    assert row["blob"] == "\\xAA\\x00"
    assert row["time_tz"] == "12:30:00+02"
    assert row["huge"] == 170141183460469231731687303715884105727
    assert row["union_value"] == {"n": 2}
    assert row["floats"] == [1.5, None]  # NaN, which JSON cannot hold
    assert row["infinite"] is None
    assert (row["formula"], row["negative"]) == ('=HYPERLINK("x")', -7)


def test_non_scalar_values_in_csv_are_json_text_and_formulas_stay_text(
        empty_database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = sql(capsys, empty_database, NON_SCALAR, "--format", "csv")
    assert code == 0
    with duckdb.connect() as con:  # DuckDB's CSV reader, not ours, reads it back
        back = con.sql("SELECT * FROM read_csv($path, all_varchar = true)",
                       params={"path": _file(out, empty_database / "out.csv")})
        (values,) = back.fetchall()
        row = dict(zip(back.columns, values, strict=True))
    assert json.loads(row["list"]) == [1, None, 3]
    assert json.loads(row["struct"]) == {"name": "Mosul", "sites": ["a", "b"]}
    assert json.loads(row["map"]) == {"AKM": 2, "PG-7VL": 12}
    assert json.loads(row["intervals"]) == ["1 day"]
    assert row["interval"] == "2 months 3 days"
    assert (row["decimal"], row["uuid"], row["blob"]) == (
        "1234.50", "4f1c8a9e-0e0c-4b5f-9b8e-1f2d3c4b5a69", "\\xAA\\x00")
    assert row["time_tz"] == "12:30:00+02"
    assert row["huge"] == "170141183460469231731687303715884105727"
    assert row["formula"] == "'=HYPERLINK(\"x\")"  # neutralised for spreadsheets
    assert row["negative"] == "-7"  # a number stays a number


def _file(text: str, path: Path) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("output_format", ["markdown", "table"])
def test_non_scalar_values_in_tables_are_json_text(
        empty_database: Path, capsys: pytest.CaptureFixture[str], output_format: str) -> None:
    code, out, _ = sql(capsys, empty_database, NON_SCALAR, "--format", output_format)
    assert code == 0
    if output_format == "table":  # cells are cut to fit; every column is named somewhere
        assert "[1,null,3]" in out and "not shown" in out
        return
    _, rule, row = out.splitlines()
    assert set(rule) <= {"|", "-"}
    assert "[1,null,3]" in row and '{"AKM":2,"PG-7VL":12}' in row and "2 months 3 days" in row


def test_a_pipe_or_line_break_stays_in_its_markdown_cell(
        empty_database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    query = "SELECT 'a|b' AS piped, 'one' || chr(10) || 'two' AS lines, 1 AS n"
    code, out, _ = sql(capsys, empty_database, query, "--format", "markdown")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 3
    assert lines[2].replace(" ", "") == r"|a\|b|one<br>two|1|"


ROWS = "SELECT range AS n, 'row ' || range AS label FROM range(100)"


def test_the_table_shows_a_screenful_and_says_how_to_see_the_rest(
        empty_database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = sql(capsys, empty_database, ROWS)
    assert code == 0
    assert f"┆ row {DEFAULT_TABLE_ROWS - 1} " in out and f"┆ row {DEFAULT_TABLE_ROWS} " not in out
    assert f"{DEFAULT_TABLE_ROWS} of 100 rows shown: --limit N shows N rows" in out
    code, out, _ = sql(capsys, empty_database, ROWS, "--limit", "5")
    assert "┆ row 4 " in out and "┆ row 5 " not in out and "5 of 100 rows shown" in out
    code, out, _ = sql(capsys, empty_database, ROWS, "--limit", "all")
    assert "┆ row 99 " in out and "shown" not in out
    code, out, _ = sql(capsys, empty_database, "SELECT 1 AS n")
    assert "shown" not in out


def test_csv_json_and_markdown_write_every_row_unless_limited(
        empty_database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for output_format, header_lines in (("csv", 1), ("markdown", 2)):
        code, out, err = sql(capsys, empty_database, ROWS, "--format", output_format)
        assert (code, len(out.splitlines()) - header_lines, err) == (0, 100, "")
    code, out, err = sql(capsys, empty_database, ROWS, "--format", "json")
    assert (code, len(strict_json(out)), err) == (0, 100, "")  # type: ignore[arg-type]
    code, out, err = sql(capsys, empty_database, ROWS, "--format", "csv", "--limit", "3")
    assert out.splitlines() == ["n,label", "0,row 0", "1,row 1", "2,row 2"]
    assert err == "wrote the first 3 of 100 rows (--limit)\n"
    code, out, err = sql(capsys, empty_database, "SELECT 1 AS n WHERE false", "--format", "json")
    assert (code, out) == (0, "[]\n")


@pytest.mark.parametrize("limit", ["0", "-1", "many"])
def test_a_limit_that_is_not_a_number_of_rows_is_a_usage_error(
        empty_database: Path, capsys: pytest.CaptureFixture[str], limit: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["sql", "SELECT 1", "--curated", str(empty_database), "--limit", limit])
    assert exit_info.value.code == 2
    assert "not a number of rows (1 or more) or 'all'" in capsys.readouterr().err


WIDE = "SELECT " + ", ".join(f"'{'x' * 12}' AS column_{i:02}" for i in range(30))


def test_a_wide_result_fits_the_terminal_and_names_what_it_left_out(
        empty_database: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    columns = [f"column_{i:02}" for i in range(30)]
    monkeypatch.setenv("COLUMNS", "100")
    code, out, _ = sql(capsys, empty_database, WIDE)
    assert code == 0
    *table, note = out.splitlines()
    assert max(len(line) for line in table) <= 100
    shown = [c for c in columns if f"│ {c} " in table[1] or f"┆ {c} " in table[1]]
    assert shown == columns[:len(shown)] and 1 <= len(shown) < 30
    assert note.startswith(f"{30 - len(shown)} more columns not shown in 100 characters")
    assert note.endswith(": " + ", ".join(columns[len(shown):]))
    monkeypatch.setenv("COLUMNS", "1000")
    code, out, _ = sql(capsys, empty_database, WIDE)
    assert "not shown" not in out and "┆ column_29 " in out


def test_duplicate_column_names_are_told_apart(empty_database: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = sql(capsys, empty_database, "SELECT 1 AS a, 2 AS a", "--format", "json")
    assert strict_json(out) == [{"a": 1, "a_1": 2}]


def test_every_curated_table_in_every_format(sample_build: tuple[Path, Path],
                                             capsys: pytest.CaptureFixture[str],
                                             tmp_path: Path) -> None:
    """Every table of a real build as CSV and JSON: JSON is strict JSON with every row, and
    the CSV, read back by DuckDB's own reader and cast to the table's types, is the table.
    The tables with a nested column (and items, the widest) as Markdown and as a table."""
    database = sample_build[0]
    curated = database.parent
    with duckdb.connect() as con:
        con.execute(f"ATTACH '{database}' AS curated (READ_ONLY)")
        tables = dict(con.sql("""
            SELECT table_name, bool_or(data_type LIKE '%[]' OR data_type LIKE 'STRUCT%'
                                       OR data_type LIKE 'MAP%') OR table_name = 'items'
            FROM duckdb_columns() WHERE database_name = 'curated'
            GROUP BY table_name""").fetchall())
        assert {"quarantine", "source_files", "figure_settings"} <= {
            name for name, nested in tables.items() if nested}
        for table, nested in sorted(tables.items()):
            ((rows,),) = con.sql(f"SELECT count(*) FROM curated.{table}").fetchall()
            outputs = {}
            for output_format in FORMATS if nested else ("csv", "json"):
                code, outputs[output_format], err = sql(
                    capsys, curated, f"SELECT * FROM {table}", "--format", output_format)
                assert (code, err) == (0, ""), (table, output_format, err)
            assert len(strict_json(outputs["json"])) == rows  # type: ignore[arg-type]
            _assert_csv_is_the_table(con, table, outputs["csv"], tmp_path / f"{table}.csv")
            if nested:
                assert len(outputs["markdown"].splitlines()) == rows + 2
                assert "not shown" in outputs["table"] or rows <= DEFAULT_TABLE_ROWS


def _assert_csv_is_the_table(con: duckdb.DuckDBPyConnection, table: str, text: str,
                             path: Path) -> None:
    path.write_text(text, encoding="utf-8")
    described = con.sql(f"DESCRIBE curated.{table}").fetchall()
    casts = []
    for name, kind, *_ in described:
        cell = f'"{name}"'
        if kind == "VARCHAR":  # the leading ' that neutralised a formula is taken off
            cell = f"""CASE WHEN regexp_matches({cell}, '^''[=+\\-@\\t\\r]') THEN {cell}[2:]
                       ELSE {cell} END"""
        elif kind.endswith("]") or kind.startswith(("STRUCT", "MAP")):
            cell = f"{cell}::JSON"
        casts.append(f"CAST({cell} AS {kind}) AS \"{name}\"")
    back = (f"SELECT {', '.join(casts)} FROM read_csv('{path}', all_varchar = true, "
            f"header = true, quote = '\"', escape = '\"')")
    for first, second in ((back, f"FROM curated.{table}"), (f"FROM curated.{table}", back)):
        missing = con.sql(f"({first}) EXCEPT ALL ({second})").fetchall()
        assert missing == [], (table, missing[:3])
