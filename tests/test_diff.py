"""`armtrace diff`: what changed between two statistics.json files, and when to stop."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from pipeline.cli import main

BASE = {
    "settings": {"as_of": "2017-11-28", "recent_from": 2014, "period_edges": [1960, 1990]},
    "input": {"sha256": "a", "files": [{"path": "items/a.csv", "sha256": "1"}]},
    "libraries": {"duckdb": "2.0.0"},
    "figures": {
        "weapons_by_origin": [
            {"documented_in": "All", "country": "China", "weapons": 783, "share": 0.435,
             "ci_low": 0.41, "ci_high": 0.46},
            {"documented_in": "All", "country": "Unknown", "weapons": 32, "share": None,
             "ci_low": None, "ci_high": None}],
        "manufacture_year": [
            {"item_kind": "weapons", "documented_in": "All", "year": 1984, "count": 10}],
    },
}


def run(tmp_path: Path, new: dict, *flags: str) -> int:
    (tmp_path / "old.json").write_text(json.dumps(BASE))
    (tmp_path / "new.json").write_text(json.dumps(new))
    return main(["diff", str(tmp_path / "old.json"), str(tmp_path / "new.json"), *flags])


def changed(path: list, value: object) -> dict:
    document = copy.deepcopy(BASE)
    target = document
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return document


def test_identical_documents_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path, BASE) == 0
    assert capsys.readouterr().out == "0 differences, 0 past the tolerance of 0\n"


def test_a_changed_share_is_named_and_fails(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    new = changed(["figures", "weapons_by_origin", 0, "share"], 0.44)
    assert run(tmp_path, new) == 1
    assert "weapons_by_origin[All, China].share: 43.50% -> 44.00% (+0.50 pp)" in (
        capsys.readouterr().out)


def test_shares_and_decimals_are_rounded_for_reading_and_exact_in_json(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's 17-digit shares: percentages with two decimals (a difference too small
    for them in two significant digits), other decimals to four; counts with their relative
    change. --format json has the exact values, and the summary comes first."""
    new = changed(["figures", "weapons_by_origin", 0, "share"], 0.43500000000000001 + 3e-9)
    new["figures"]["weapons_by_origin"][0]["ci_low"] = 0.4105882352941176
    new["figures"]["weapons_by_origin"][0]["weapons"] = 800
    new["figures"]["weapons_by_origin"][1]["share"] = 0.0123456789
    assert run(tmp_path, new, "--tolerance", "0.001") == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "4 differences, 2 past the tolerance of 0.001"
    assert lines[1:] == [
        "changed  weapons_by_origin[All, China].weapons: 783 -> 800 (+17, +2.17%)",
        "changed  weapons_by_origin[All, China].share: 43.50% -> 43.50% (+3e-07 pp)"
        "  (within tolerance)",
        "changed  weapons_by_origin[All, China].ci_low: 41.00% -> 41.06% (+0.06 pp)"
        "  (within tolerance)",
        "changed  weapons_by_origin[All, Unknown].share: empty -> 1.23%",
    ]
    assert run(tmp_path, new, "--tolerance", "0.001", "--format", "json") == 1
    document = json.loads(capsys.readouterr().out)
    assert (document["differences"], document["past_tolerance"]) == (4, 2)
    share = next(c for c in document["changes"] if c["column"] == "share")
    assert share == {"kind": "changed", "figure": "weapons_by_origin",
                     "key": {"documented_in": "All", "country": "China"}, "column": "share",
                     "old": 0.435, "new": 0.43500000000000001 + 3e-9,
                     "difference": 0.43500000000000001 + 3e-9 - 0.435,
                     "past_tolerance": False}


@pytest.mark.parametrize(("value", "tolerance", "code"), [
    (0.436, "0.002", 0), (0.438, "0.002", 1)])  # shares: absolute tolerance
def test_share_tolerance_is_absolute(tmp_path: Path, value: float, tolerance: str,
                                     code: int) -> None:
    new = changed(["figures", "weapons_by_origin", 0, "share"], value)
    assert run(tmp_path, new, "--tolerance", tolerance) == code


@pytest.mark.parametrize(("value", "code"), [(784, 0), (800, 1)])  # counts: relative
def test_count_tolerance_is_relative(tmp_path: Path, value: int, code: int) -> None:
    new = changed(["figures", "weapons_by_origin", 0, "weapons"], value)
    assert run(tmp_path, new, "--tolerance", "0.002") == code


def test_rows_that_appear_or_vanish_always_fail(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    new = copy.deepcopy(BASE)
    new["figures"]["manufacture_year"][0]["year"] = 1985
    assert run(tmp_path, new, "--tolerance", "1") == 1
    out = capsys.readouterr().out
    assert "vanished manufacture_year[weapons, All, 1984]" in out
    assert "appeared manufacture_year[weapons, All, 1985]" in out


def test_a_vanished_figure_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    new = copy.deepcopy(BASE)
    del new["figures"]["manufacture_year"]
    assert run(tmp_path, new, "--tolerance", "1") == 1
    assert "vanished manufacture_year" in capsys.readouterr().out


def test_settings_and_inputs_that_differ_are_reported(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    new = changed(["settings", "recent_from"], 2015)
    new["input"] = {"sha256": "b", "files": [{"path": "items/b.csv", "sha256": "2"}]}
    assert run(tmp_path, new) == 0  # the figures themselves did not change
    out = capsys.readouterr().out
    assert "settings: recent_from 2014 -> 2015\n" in out and "input removed: items/a.csv" in out
    assert "input added: items/b.csv" in out


def test_a_file_that_is_not_statistics_is_a_usage_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "x.json").write_text("[1, 2]")
    (tmp_path / "ok.json").write_text(json.dumps(BASE))
    assert main(["diff", str(tmp_path / "x.json"), str(tmp_path / "ok.json")]) == 2
    assert "is not a statistics.json" in capsys.readouterr().err
    assert main(["diff", str(tmp_path / "missing.json"), str(tmp_path / "ok.json")]) == 2


def test_a_column_that_appears_or_vanishes_is_a_change(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    new = copy.deepcopy(BASE)
    new["figures"]["weapons_by_origin"][0]["n"] = 1800
    del new["figures"]["weapons_by_origin"][0]["ci_high"]
    assert run(tmp_path, new, "--tolerance", "1") == 1
    out = capsys.readouterr().out
    assert "weapons_by_origin[All, China].n: empty -> 1800" in out
    assert "weapons_by_origin[All, China].ci_high: 46.00% -> empty" in out
