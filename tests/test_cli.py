"""The `armtrace` command line: build summary, failures, and read-only SQL output formats."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipeline.cli import SHOWN_UNREADABLE, main, print_unreadable
from tests.conftest import TODAY, write_dirty_raw_folder


def test_build_fails_clearly_without_a_raw_folder(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["build", "--raw", str(tmp_path / "missing"), "--curated", str(tmp_path / "c")])
    assert code == 1
    err = capsys.readouterr().err
    assert "build failed" in err
    assert f"raw folder {tmp_path / 'missing'} does not exist" in err
    assert not (tmp_path / "c" / "armtrace.duckdb").exists()


def test_sql_formats(dirty_build: Path, capsys: pytest.CaptureFixture[str]) -> None:
    query = ("SELECT documented_in, count(*) AS items FROM items GROUP BY ALL "
             "ORDER BY documented_in")
    assert main(["sql", query, "--curated", str(dirty_build), "--format", "csv"]) == 0
    assert capsys.readouterr().out == "documented_in,items\nIraq,8\nSyria,7\n"
    assert main(["sql", query, "--curated", str(dirty_build), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"documented_in": "Iraq", "items": 8}, {"documented_in": "Syria", "items": 7}]
    assert main(["sql", query, "--curated", str(dirty_build), "--format", "markdown"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].replace(" ", "") == "|documented_in|items|"
    assert lines[2].replace(" ", "") == "|Iraq|8|"
    assert main(["sql", query, "--curated", str(dirty_build)]) == 0
    assert "Syria" in capsys.readouterr().out


def test_sql_is_read_only(dirty_build: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sql", "DELETE FROM items", "--curated", str(dirty_build)]) == 1
    assert "read-only" in capsys.readouterr().err
    with duckdb.connect(str(dirty_build / "armtrace.duckdb"), read_only=True) as con:
        assert con.sql("SELECT count(*) FROM items").fetchall() == [(15,)]


def test_sql_without_a_database_says_what_to_do(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sql", "SELECT 1", "--curated", str(tmp_path)]) == 1
    assert "run `armtrace build` first" in capsys.readouterr().err


def test_the_command_exits_with_mains_code_and_all_of_its_output(
        dirty_build: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The installed `armtrace` (`pipeline.cli:run`) exits without the interpreter's teardown:
    what `main` wrote to a pipe, which Python buffers, must all arrive, and the exit code must
    be main's."""
    command = [str(Path(sys.executable).parent / "armtrace"), "sql", "--curated", str(dirty_build)]
    buffered = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    query = "SELECT * FROM items ORDER BY record_id"
    assert main(["sql", query, "--curated", str(dirty_build), "--format", "csv"]) == 0
    expected = capsys.readouterr().out
    done = subprocess.run([*command, query, "--format", "csv"], capture_output=True, text=True,
                          env=buffered)
    assert (done.returncode, done.stdout) == (0, expected)
    refused = subprocess.run([*command, "DELETE FROM items"], capture_output=True, text=True,
                             env=buffered)
    assert refused.returncode == 1
    assert "read-only" in refused.stderr


def test_the_command_stops_quietly_when_its_reader_goes_away(dirty_build: Path) -> None:
    """`armtrace sql ... | head`: a closed pipe ends the command with code 1 and no
    traceback."""
    command = [str(Path(sys.executable).parent / "armtrace"), "sql", "--curated",
               str(dirty_build), "SELECT * FROM range(300000)", "--format", "csv"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # more than a pipe's buffer is written after this
    err = process.stderr.read().decode()
    assert (process.wait(), err) == (1, "")


def test_build_summary_accounts_for_every_row(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    raw = write_dirty_raw_folder(tmp_path / "raw")
    assert main(["build", "--raw", str(raw), "--curated", str(tmp_path / "c"),
                 "--today", TODAY]) == 0
    captured = capsys.readouterr()
    assert re.search(r"^unreadable: items/team-b/2016/photo\.csv: binary file \(contains NUL "
                     r"bytes, the first at line \d+, byte \d+\): export the log as CSV or XLSX$",
                     captured.out, re.MULTILINE)
    summary = dict(line.rsplit(maxsplit=1) for line in captured.out.splitlines()
                   if re.fullmatch(r"[a-z][a-z_ :]+ +[\d,]+", line))
    numbers = {k.strip(): int(v.replace(",", "")) for k, v in summary.items()}
    assert numbers["rows in"] == 28
    assert numbers["rows in"] == (numbers["items"] + numbers["superseded versions"]
                                  + numbers["merged"] + numbers["quarantined"])
    assert numbers["quarantined: duplicate_record_id"] == 2
    assert numbers["merged: re_documented_item"] == 1
    for stage in ("discover", "read", "clean", "resolve", "write", "figures", "report",
                  "publish"):
        assert f"  {stage} " in captured.err


def test_many_unreadable_files_are_named_up_to_a_limit_then_counted(
        capsys: pytest.CaptureFixture[str]) -> None:
    files = [(f"items/photo-{n:02}.csv", "binary file") for n in range(SHOWN_UNREADABLE + 2)]
    print_unreadable(files)
    lines = capsys.readouterr().out.splitlines()
    assert lines[:SHOWN_UNREADABLE] == [f"unreadable: {path}: binary file"
                                        for path, _ in files[:SHOWN_UNREADABLE]]
    assert lines[SHOWN_UNREADABLE:] == [
        "unreadable: and 2 more: armtrace sql \"SELECT path, problem FROM source_files "
        "WHERE status = 'unreadable' ORDER BY path\""]
