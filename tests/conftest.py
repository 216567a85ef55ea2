"""Shared fixtures: a dirty multi-team raw folder and one build of it."""

from __future__ import annotations

import csv
import datetime as dt
import os
import shutil
import tempfile
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter

from pipeline.cli import main
from pipeline.paths import REPO_ROOT
from pipeline.reference import Reference
from pipeline.stages.correct import CORRECTION_SCHEMA, FileByFileCorrections

TODAY = "2026-01-01"
_DAGSTER_HOME = pytest.StashKey[Path]()
PROJECT_INSTANCE_AT_START = pytest.StashKey[dict[str, tuple[int, int]]]()
TEST_DAGSTER_YAML = "telemetry:\n  enabled: false\nnux:\n  enabled: false\n"


def pytest_configure(config: pytest.Config) -> None:
    """The test session's own Dagster instance, set before any test module is imported: the
    Makefile exports DAGSTER_HOME as the repository root, and a test build must never record
    its runs there (the UI's assets would point at a pytest folder). Storage defaults to
    folders under this DAGSTER_HOME, which is removed when the session ends."""
    home = Path(tempfile.mkdtemp(prefix="armtrace-dagster-home-"))
    (home / "dagster.yaml").write_text(TEST_DAGSTER_YAML, encoding="utf-8")
    config.stash[_DAGSTER_HOME] = home
    config.stash[PROJECT_INSTANCE_AT_START] = project_instance_files()
    os.environ["DAGSTER_HOME"] = str(home)


def project_instance_files() -> dict[str, tuple[int, int]]:
    """Size and modification time of each file of the project's own Dagster instance
    (`.dagster/`), but the daemon's schedule and sensor ticks, which a `make dev` left running
    writes every 30 s."""
    folder = REPO_ROOT / ".dagster"
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file() and "schedules" not in p.parts}


def pytest_unconfigure(config: pytest.Config) -> None:
    home = config.stash.get(_DAGSTER_HOME, None)
    if home is not None:
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(autouse=True)
def _outputs_outside_the_repo(tmp_path_factory: pytest.TempPathFactory,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A test that forgets a folder flag writes to a scratch folder, never into the repo."""
    scratch = tmp_path_factory.mktemp("default-folders")
    monkeypatch.setenv("ARMTRACE_CURATED_DIR", str(scratch / "curated"))
    monkeypatch.setenv("ARMTRACE_REPORTS_DIR", str(scratch / "reports"))


@pytest.fixture(autouse=True, scope="session")
def _dirty_fixtures_may_quarantine_any_share() -> None:
    """The fixtures are dirty on purpose (a third of their rows are quarantined); tests of the
    threshold pass --max-quarantined-share, which wins over this variable."""
    os.environ["ARMTRACE_MAX_QUARANTINED_SHARE"] = "1"


@pytest.fixture(autouse=True, scope="session")
def _gx_imported_in_the_test_process() -> None:
    """GX imported once per test process, as a build's process has it after its first suite:
    the builds tests run in this process validate here, and do not each start a process that
    imports GX again (suite_process.start_spare_for_small_build, which the tests of that
    path start on purpose). Builds run as commands of their own still start one."""
    import great_expectations  # noqa: F401


HEADER_A = ["Item ID", "Date", "Country", "Location", "Type", "Model", "Calibre", "Origin",
            "YoM", "Serial No", "Lot", "Qty"]
# team A, first export (comma, UTF-8): 13 rows
TEAM_A_FIRST = [
    ["A-001", "2016-01-10", "Iraq", "Mosul", "rifle", "AKM", "7.62x39mm", "USSR", "1975",
     "No. 1001", "", "1"],
    ["A-002", "2016-01-10", "Iraq", "Mosul", "cartridge", "", "7.62 x 39", "China", "84", "",
     "L-1", "1,200"],
    ["A-003", "2016-01-11", "Iraq", "Tal Afar", "RPG round", "PG-7VL", "", "Bulgaria", "2015",
     "", "03-15", "12"],
    ["A-004", "2016-01-11", "Iraq", "Tal Afar", "mortar bomb", "", "82mm", "Serbia", "2011", "",
     "", "30"],
    ["A-005", "11/01/2016", "Iraq", "tal afar", "mortar", "", "82 mm", "serbia", "2011", "", "",
     "30"],
    ["A-006", "2016-01-12", "Iraq", "Mosul", "cartridge", "", "", "China", "", "", "L-9", "30"],
    ["A-007", "2016-01-12", "Iraq", "Mosul", "cartridge", "", "", "China", "", "", "L-9", "31"],
    ["A-007", "2016-01-12", "Iraq", "Mosul", "cartridge", "", "", "China", "", "", "L-9", "31"],
    ["A-009", "2099-01-01", "Iraq", "Mosul", "cartridge", "", "", "China", "", "", "", "5"],
    ["A-010", "31/02/2016", "Iraq", "Mosul", "cartridge", "", "", "China", "", "", "", "5"],
    ["A-011", "2016-01-12", "Iraq", "Mosul", "banana", "", "", "China", "", "", "", "5"],
    ["A-012", "2016-01-12", "Iraq", "Mosul", "rifle", "AKM", "", "China", "", "77", "", "2"],
    ["A-013", "2016-01-12", "Iraq", "Mosul", "cartridge", "", "", "China", "1849", "", "", "5"],
]
# team A, second export (semicolon, UTF-8 with BOM): 6 rows
TEAM_A_SECOND = [
    ["A-002", "2016-01-10", "Iraq", "Mosul", "cartridge", "", "7.62 x 39", "China", "84", "",
     "L-1", "1,250"],
    ["A-101", "2016-06-01", "Iraq", "Mosul", "rifle", "AKM", "7.62x39mm", "Soviet Union",
     "1975", "1001", "", "1"],
    ["A-102", "2016-06-01", "Iraq", "Mosul", "rifle", "Type 56-1", "7.62x39mm", "Russia",
     "1975", "1001", "", "1"],
    ["A-103", "2016-06-01", "Iraq", "Mosul", "rifle", "AKM", "7.62x39mm", "China", "1975",
     "1001", "", "1"],
    ["A-104", "2016-06-02", "Iraq", "Mosul", "cartridge", "", "", "China", "", "", "", "5"],
    ["A-104", "2016-06-02", "Iraq", "Mosul", "cartridge", "", "", "China", "", "", "", "6"],
]
# team B (tab, Windows-1252): 4 rows
TEAM_B_TEXT = (
    "ref\tdate\tcountry\tsite\tcategory\tmodel\tcal\tcountry of origin\tyear\ts/n\tqty\n"
    "B-001\t3 Nov 2016\tSyria\tRaqqa\tcartridge\t\t\tT\u00fcrkiye\t2013\t\t75\n"
    "B-002\tNov 4, 2016\tSyria\tRaqqa\tpistol\tMakarov\t9x18\tGDR\t1970\tAB 123\t\n"
    "B-003\t04.11.2016\tSyria\tRaqqa\tcartridge\t\t\tn/a\t?\t\t\n"
    "B-004\t04-11-2016\tSyria\tRaqqa\trocket\tPG-9\t73mm\tRomania\t14\t\t9\n"
)
# team B (pipe, UTF-8): 2 rows
TEAM_B_PIPE = (
    "record|documentation date|country documented|place|item type|designation|origin|yom|serial"
    "|units\n"
    "B-010|2016-11-05|Syria|Tabqa|ATGW|9\u041c111|Bulgaria|2015|\u2116 55|1\n"
    "B-011|2016-11-05|Syria|Tabqa|hand grenade||Narnia|||4\n"
)
ROWS_IN = 13 + 6 + 4 + 2 + 2 + 1  # the binary file counts as one quarantined row


def _write_delimited(path: Path, rows: list[list[str]], delimiter: str, encoding: str) -> None:
    def quote(cell: str) -> str:
        return f'"{cell}"' if delimiter in cell else cell

    lines = [delimiter.join(quote(c) for c in row) for row in [HEADER_A, *rows]]
    path.write_text("\n".join(lines) + "\n", encoding=encoding)


def _write_workbook(path: Path) -> None:
    book = xlsxwriter.Workbook(path)
    items = book.add_worksheet("Items")
    date_format = book.add_format({"num_format": "dd/mm/yyyy"})
    items.write_row(0, 0, ["Record No", "Date documented", "Country", "Site name", "Item category",
                           "Model designation", "Caliber", "Made in", "Year", "Serial", "Qty"])
    items.write_row(1, 0, ["B-020"])
    items.write_datetime(1, 1, dt.datetime(2017, 2, 1), date_format)
    items.write_row(1, 2, ["Syria", "Tabqa", "SAA", "", "5.56x45", "USA", 2010, "", 100])
    # row 3 of the sheet is left empty on purpose
    items.write_row(3, 0, ["B-021"])
    items.write_datetime(3, 1, dt.datetime(2017, 2, 2), date_format)
    items.write_row(3, 2, ["Syria", "Tabqa", "weapon", "M16A2", "5.56x45", "USA", 1990, "9", 1])
    legend = book.add_worksheet("Legend")
    legend.write_row(0, 0, ["This workbook lists items recovered in Tabqa"])
    book.close()


def write_log(path: Path, rows: list[dict[str, str]]) -> None:
    """A UTF-8 CSV whose header is every key the rows use, in first-seen order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = list(dict.fromkeys(name for row in rows for name in row))
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, columns, restval="")
        writer.writeheader()
        writer.writerows(rows)


def no_corrections(folder: Path) -> FileByFileCorrections:
    """No analysts' corrections, as a build without a corrections folder has."""
    return FileByFileCorrections(pl.DataFrame(schema=CORRECTION_SCHEMA), folder)


@pytest.fixture(scope="session")
def reference() -> Reference:
    return Reference.load(REPO_ROOT / "data" / "reference")


def write_dirty_raw_folder(raw: Path) -> Path:
    """Six item logs in every accepted shape, with versions, merges and invalid rows."""
    team_a, team_b = raw / "items" / "team-a", raw / "items" / "team-b" / "2016"
    team_a.mkdir(parents=True)
    team_b.mkdir(parents=True)
    _write_delimited(team_a / "2016-01-export.csv", TEAM_A_FIRST, ",", "utf-8")
    _write_delimited(team_a / "2016-06-export.csv", TEAM_A_SECOND, ";", "utf-8-sig")
    (team_b / "log.txt").write_bytes(TEAM_B_TEXT.encode("cp1252"))
    (team_b / "pipes.csv").write_text(TEAM_B_PIPE, encoding="utf-8")
    _write_workbook(team_b / "workbook.xlsx")
    (team_b / "photo.csv").write_bytes(bytes(range(256)) * 4)
    (raw / "README.md").write_text("not an item log\n")
    return raw


@pytest.fixture(scope="session")
def dirty_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The curated folder of one CLI build of the dirty raw folder."""
    root = tmp_path_factory.mktemp("dirty")
    raw = write_dirty_raw_folder(root / "raw")
    curated = root / "curated"
    code = main(["build", "--raw", str(raw), "--curated", str(curated),
                 "--reports", str(root / "reports"), "--today", TODAY])
    assert code == 0
    return curated


SHIPPED_SAMPLE = REPO_ROOT / "data" / "raw"


def build(raw: Path, root: Path, *flags: str) -> tuple[Path, Path]:
    """Build `raw` into `root`; return the published database and reports folder."""
    assert main(["build", "--raw", str(raw), "--curated", str(root / "curated"),
                 "--reports", str(root / "reports"), "--today", TODAY, *flags]) == 0
    return root / "curated" / "armtrace.duckdb", root / "reports"


@pytest.fixture(scope="session")
def sample_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return build(SHIPPED_SAMPLE, tmp_path_factory.mktemp("sample"))
