"""Unattended rebuilds: the build manifest, skip-when-unchanged, the sensor and the schedule."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from pipeline.automation import BUILD_JOB, daily_build, raw_folder_changed
from pipeline.cli import main
from pipeline.definitions import defs
from pipeline.fingerprint import (
    TODAY_SETTING,
    Manifest,
    current_manifest,
    next_future_date,
    published_manifest,
    rebuild_reasons,
)
from pipeline.paths import REPO_ROOT, Paths
from pipeline.resources import ArmtraceFolders
from pipeline.validation import resolve_max_quarantined_share
from tests.conftest import TODAY, write_dirty_raw_folder

NEW_LOG = "id,date,country,site,category,qty\nN-1,2016-02-01,Iraq,Baiji,cartridge,7\n"


def _folders(root: Path) -> Paths:
    return Paths.resolve(root / "raw", root / "curated", root / "reports", root / "reference",
                         root / "corrections")


def _inputs(root: Path) -> Paths:
    """A dirty raw folder, a copy of the reference data and an empty corrections folder."""
    write_dirty_raw_folder(root / "raw")
    shutil.copytree(REPO_ROOT / "data" / "reference", root / "reference")
    (root / "corrections").mkdir()
    return _folders(root)


def build(paths: Paths, *flags: str) -> int:
    return main(["build", "--raw", str(paths.raw_dir), "--curated", str(paths.curated_dir),
                 "--reports", str(paths.reports_dir), "--reference", str(paths.reference_dir),
                 "--corrections", str(paths.corrections_dir), "--today", TODAY, *flags])


@pytest.fixture(scope="module")
def _built_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("automation")
    assert build(_inputs(root)) == 0
    return root


@pytest.fixture
def folders(tmp_path: Path) -> Paths:
    """The inputs, nothing built."""
    return _inputs(tmp_path)


@pytest.fixture
def built(_built_once: Path, tmp_path: Path) -> Paths:
    """A copy of one build of the dirty folder (with its own reference data), built with
    --today pinned."""
    shutil.copytree(_built_once, tmp_path / "copy")
    return _folders(tmp_path / "copy")


# --- skip when unchanged ----------------------------------------------------------------------

def test_an_unchanged_build_does_no_work_and_says_so(built: Paths,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()

    def written() -> tuple[tuple[int, int], ...]:  # read to verify them, not written
        return tuple((path.stat().st_ino, path.stat().st_mtime_ns)
                     for path in (built.database, built.reports_dir / "index.html"))

    before = written()
    assert build(built) == 0
    captured = capsys.readouterr()
    assert "up to date" in captured.err and "nothing to do" in captured.err
    assert "items" in captured.out  # the summary of the published build
    assert "  read " not in captured.err  # no stage ran
    assert written() == before


@pytest.mark.parametrize(("change", "reason"), [
    ("raw_added", "added: input items/new.csv"),
    ("raw_edited", "changed: input items/team-b/2016/pipes.csv"),
    ("raw_removed", "removed: input items/team-b/2016/pipes.csv"),
    ("reference_edited", "changed: reference country_aliases.csv"),
    ("correction_added", "added: corrections 2026-11-review.yaml"),
    ("setting", 'added: setting figures.recent_from'),
    ("reports_deleted", "no complete published build"),
])
def test_a_changed_input_setting_or_output_forces_a_rebuild(
        built: Paths, capsys: pytest.CaptureFixture[str], change: str, reason: str) -> None:
    pipes = built.raw_dir / "items" / "team-b" / "2016" / "pipes.csv"
    flags: list[str] = []
    if change == "raw_added":
        (built.raw_dir / "items" / "new.csv").write_text(NEW_LOG)
    elif change == "raw_edited":
        pipes.write_text(pipes.read_text().replace("|4\n", "|5\n"))
    elif change == "raw_removed":
        pipes.unlink()
    elif change == "reference_edited":
        aliases = built.reference_dir / "country_aliases.csv"
        aliases.write_text(aliases.read_text() + "Narnia,SRB,test alias\n")
    elif change == "correction_added":
        (built.corrections_dir / "2026-11-review.yaml").write_text("corrections: []\n")
    elif change == "setting":
        flags = ["--recent-from", "2015"]
    else:
        shutil.rmtree(built.reports_dir)
    capsys.readouterr()
    assert build(built, *flags) == 0
    err = capsys.readouterr().err
    assert f"because {reason}" in err
    assert "  read " in err and "up to date" not in err
    assert published_manifest(built) is not None


def test_force_rebuilds_unchanged_inputs(built: Paths, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert build(built, "--force") == 0
    assert "  publish " in capsys.readouterr().err


def test_the_manifest_names_every_input_code_file_library_and_setting(built: Paths) -> None:
    manifest = published_manifest(built)
    assert manifest is not None
    kinds = {key.split("/", 1)[0] for key in manifest.components}
    assert kinds == {"input", "reference", "code", "library", "setting"}
    assert manifest.components[TODAY_SETTING] == json.dumps(TODAY)
    assert "code/stages/clean.py" in manifest.components
    assert "code/figures/figures.sql" in manifest.components
    assert manifest.components["library/duckdb"] == duckdb.__version__
    reports = json.loads((built.reports_dir / "build-manifest.json").read_text())
    assert reports["fingerprint"] == manifest.fingerprint
    # The dirty fixture has a row dated 2099: the earliest future date is recorded.
    assert manifest.next_future_date == "2099-01-01"


def test_the_next_future_date_covers_items_and_transfers() -> None:
    def rows(column: str, dated: list[tuple[str, list[str]]]) -> pl.DataFrame:
        return pl.DataFrame({column: [dt.datetime.fromisoformat(d) for d, _ in dated],
                             "reasons": [r for _, r in dated]})

    items = rows("documented_on_parsed", [("2027-05-01", ["future_date"]),
                                          ("2020-01-01", []),  # valid: not a future date
                                          ("2019-01-01", ["unknown_country"])])
    transfers = rows("shipped_on_parsed", [("2027-02-01", ["future_date", "unknown_country"])])
    assert next_future_date((items, "documented_on_parsed")) == "2027-05-01"
    assert next_future_date((items, "documented_on_parsed"),
                            (transfers, "shipped_on_parsed")) == "2027-02-01"
    assert next_future_date((items.filter(pl.col("reasons").list.len() == 0),
                             "documented_on_parsed")) is None


def test_the_manifest_is_the_same_for_the_same_inputs(folders: Paths) -> None:
    first = current_manifest(folders, {"ops": {"figures": {"config": {"recent_from": 2014}}}}, 0.05)
    again = current_manifest(folders, {"ops": {"figures": {"config": {"recent_from": 2014}}}}, 0.05)
    other = current_manifest(folders, {"ops": {"figures": {"config": {"recent_from": 2015}}}}, 0.05)
    assert first.fingerprint == again.fingerprint != other.fingerprint


def _manifest(**components: str) -> Manifest:
    return Manifest({"input/items/a.csv": "aa", "code/cli.py": "cc", **components})


@pytest.mark.parametrize(("published", "today", "expected"), [
    # A row dated in the future at the last build becomes valid on its date, not before.
    (Manifest(_manifest().components, "2026-01-01", "2026-03-01"), "2026-02-28", []),
    (Manifest(_manifest().components, "2026-01-01", "2026-03-01"), "2026-03-01",
     ["a row dated 2026-03-01 was in the future at the last build (cut-off 2026-01-01) and no "
      "longer is"]),
    # No future-dated rows: a new day changes nothing.
    (Manifest(_manifest().components, "2026-01-01", None), "2030-01-01", []),
])
def test_a_new_day_rebuilds_only_when_a_future_dated_row_comes_due(
        published: Manifest, today: str, expected: list[str]) -> None:
    assert rebuild_reasons(published, _manifest(), dt.date.fromisoformat(today)) == expected


def test_an_explicit_cut_off_ignores_the_calendar() -> None:
    pinned = {TODAY_SETTING: json.dumps(TODAY)}
    published = Manifest(_manifest(**pinned).components, TODAY, "2026-03-01")
    assert rebuild_reasons(published, _manifest(**pinned), dt.date(2030, 1, 1)) == []


def test_code_and_library_changes_are_named() -> None:
    published = _manifest(**{"library/duckdb": "2.0.0"})
    current = Manifest({**published.components, "code/cli.py": "dd", "library/duckdb": "2.0.1"})
    assert rebuild_reasons(published, current, dt.date(2026, 1, 1)) == [
        "changed: code cli.py", "changed: library duckdb (2.0.0 -> 2.0.1)"]


# --- sensor and schedule ---------------------------------------------------------------------

def test_sensor_and_schedule_are_on_by_default_and_target_the_build_job() -> None:
    assert raw_folder_changed.default_status == dg.DefaultSensorStatus.RUNNING
    assert daily_build.default_status == dg.DefaultScheduleStatus.RUNNING
    assert raw_folder_changed.job_name == daily_build.job_name == BUILD_JOB
    assert defs.resolve_sensor_def(raw_folder_changed.name) is not None
    assert defs.resolve_schedule_def(daily_build.name) is not None


def _tick(paths: Paths, cursor: str | None) -> tuple[list[dg.RunRequest], str | None, str | None]:
    """One sensor evaluation: its run requests, skip message and new cursor."""
    context = dg.build_sensor_context(cursor=cursor,
                                      resources={"folders": ArmtraceFolders.from_paths(paths)})
    result = raw_folder_changed.evaluate_tick(context)
    return result.run_requests or [], result.skip_message, result.cursor


def build_with_default_settings(paths: Paths) -> None:
    """What the sensor and the schedule compare with: a build given no settings."""
    assert main(["build", "--raw", str(paths.raw_dir), "--curated", str(paths.curated_dir),
                 "--reports", str(paths.reports_dir), "--reference", str(paths.reference_dir),
                 "--corrections", str(paths.corrections_dir)]) == 0


def test_sensor_requests_one_run_per_change_once_the_folder_settles(built: Paths) -> None:
    build_with_default_settings(built)
    # The first look only learns the folder; the published build is current: nothing to do.
    runs, skip, cursor = _tick(built, None)
    assert runs == [] and skip.startswith("first look at the folders; waiting")
    runs, skip, cursor = _tick(built, cursor)
    assert runs == [] and "unchanged since the published build" in skip
    runs, skip, cursor = _tick(built, cursor)
    assert runs == [] and skip == "no raw, reference or corrections file changed"

    (built.raw_dir / "items" / "new.csv").write_text(NEW_LOG)  # a new log arrives
    runs, skip, cursor = _tick(built, cursor)
    assert runs == [] and skip.startswith("files changed; waiting one interval")  # copying?
    runs, skip, cursor = _tick(built, cursor)
    assert len(runs) == 1
    expected = current_manifest(built, {}, resolve_max_quarantined_share()).fingerprint
    assert runs[0].run_key == f"raw-folder-{expected}"
    assert runs[0].tags["armtrace/trigger"] == "raw-folder"
    runs, skip, cursor = _tick(built, cursor)  # the same change never asks twice
    assert runs == [] and skip == "no raw, reference or corrections file changed"


def test_sensor_waits_while_a_file_keeps_changing(built: Paths) -> None:
    runs, skip, cursor = _tick(built, None)
    log = built.raw_dir / "items" / "growing.csv"
    for rows in range(1, 4):  # each look sees a bigger file: never settled, never a run
        log.write_text(NEW_LOG + "N-2,2016-02-01,Iraq,Baiji,cartridge,7\n" * rows)
        runs, skip, cursor = _tick(built, cursor)
        assert runs == [] and "waiting" in skip


def _schedule_tick(paths: Paths) -> tuple[list[dg.RunRequest], str | None]:
    context = dg.build_schedule_context(
        resources={"folders": ArmtraceFolders.from_paths(paths)},
        scheduled_execution_time=dt.datetime(2026, 11, 23, 5, tzinfo=dt.UTC))
    result = daily_build.evaluate_tick(context)
    return result.run_requests or [], result.skip_message


def test_schedule_skips_an_unchanged_build_and_runs_a_changed_one(built: Paths) -> None:
    # The CLI build pinned --today; the schedule builds with the default: a new setting.
    runs, skip = _schedule_tick(built)
    assert len(runs) == 1 and runs[0].tags["armtrace/trigger"] == "daily"
    # Published with the schedule's own settings, the next tick has nothing to do.
    build_with_default_settings(built)
    runs, skip = _schedule_tick(built)
    assert runs == [] and "nothing to do" in skip
    (built.raw_dir / "items" / "new.csv").write_text(NEW_LOG)
    runs, skip = _schedule_tick(built)
    assert len(runs) == 1 and runs[0].run_key is None


def test_fingerprints_list_links_by_their_target_and_never_read_through_them(
        tmp_path: Path) -> None:
    """A corrections or reference folder may hold a link (the stages refuse it by name): the
    manifest records where it points, so adding or re-pointing one is a change, and never
    hashes what it points to (a link to a 20 GiB file, or to /etc/shadow)."""
    from pipeline.fingerprint import _hashed_files
    from pipeline.stages.discover import sha256_of

    folder, outside = tmp_path / "corrections", tmp_path / "secret.yaml"
    folder.mkdir()
    outside.write_text("not ours")
    (folder / "team.yaml").write_text("corrections: []\n")
    (folder / "linked.yaml").symlink_to(outside)
    (folder / "sub").symlink_to(tmp_path, target_is_directory=True)
    found = _hashed_files(folder, "corrections", (".yaml",))
    assert found["corrections/linked.yaml"] == f"link to {outside}"
    assert found["corrections/team.yaml"] == sha256_of(folder / "team.yaml")
    assert not any(key.startswith("corrections/sub/") for key in found)
    assert sha256_of(outside) not in found.values()
