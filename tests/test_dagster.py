"""The Dagster definitions load, and the asset graph materialises on a throwaway database."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest
from markdown_it import MarkdownIt

from pipeline.assets import ASSETS
from pipeline.checks import ASSET_CHECKS
from pipeline.definitions import build_definitions, defs
from pipeline.parts import write_parts
from pipeline.paths import REPO_ROOT, Paths
from pipeline.resources import StageFrames
from tests.conftest import (
    PROJECT_INSTANCE_AT_START,
    TODAY,
    project_instance_files,
    write_dirty_raw_folder,
)

STAGE_GROUPS = {"ingest", "clean", "resolve", "publish", "figures", "report"}


def test_definitions_load_with_every_asset_grouped_and_described() -> None:
    dg.Definitions.validate_loadable(defs)
    specs = list(defs.resolve_all_asset_specs())
    assert {spec.group_name for spec in specs} == STAGE_GROUPS
    assert all(spec.description for spec in specs), [s.key for s in specs if not s.description]
    assert defs.resolve_job_def("build") is not None


def _descriptions() -> dict[str, str]:
    """Every description of ours the Dagster UI shows: assets, checks, job, sensor, schedule
    and resources."""
    found = {f"asset {spec.key.to_user_string()}": spec.description or ""
             for spec in defs.resolve_all_asset_specs()}
    found |= {f"check {spec.name}": spec.description or ""
              for check in ASSET_CHECKS for spec in check.check_specs}
    found |= {f"job {job.name}": job.description or "" for job in [defs.resolve_job_def("build")]}
    found |= {f"sensor {sensor.name}": sensor.description or "" for sensor in defs.sensors or []}
    found |= {f"schedule {item.name}": item.description or "" for item in defs.schedules or []}
    found |= {f"resource {name}": type(resource).__doc__ or ""
              for name, resource in (defs.resources or {}).items()
              if type(resource).__module__.startswith("pipeline.")}
    return found


def test_descriptions_render_as_written_and_point_inside_the_repository() -> None:
    """The UI renders descriptions as Markdown, which passes HTML through: `fig_<id>` showed
    as `fig_`. Rendered by a CommonMark parser, no description may hold HTML (write such text
    as code), nor cite a path outside the repository."""
    markdown = MarkdownIt("commonmark")
    descriptions = _descriptions()
    assert "asset figures" in descriptions and "check row_accounting" in descriptions
    for name, text in descriptions.items():
        tokens = markdown.parse(text)
        html = [t.content for t in tokens if t.type == "html_block"] + [
            child.content for t in tokens for child in t.children or []
            if child.type == "html_inline"]
        assert html == [], (name, html)
        assert "shared/" not in text, name
    assert "<code>fig_&lt;id&gt;</code>" in markdown.render(descriptions["asset figures"])


def test_the_project_instance_shows_no_first_run_dialog(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """dagster.yaml as `make dev` reads it, in a copy (its storage paths are relative to the
    working folder, so the project's own .dagster/ is not opened)."""
    shutil.copy(REPO_ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.chdir(tmp_path)
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert instance.nux_enabled is False
        assert instance.telemetry_enabled is False
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 1


def test_test_builds_record_tagged_runs_in_the_sessions_instance_not_the_projects(
        dirty_build: Path, pytestconfig: pytest.Config) -> None:
    """`make test` exports DAGSTER_HOME as the repository root; the session's own instance
    (conftest) must take the runs of test builds (here, at least the dirty build's), and the
    project's .dagster/ must be as it was when the session started. A CLI build's run carries
    the tags the sensor's and the schedule's runs carry: what started it and the fingerprint
    of its inputs."""
    home = Path(os.environ["DAGSTER_HOME"]).resolve()
    assert not home.is_relative_to(REPO_ROOT.resolve())
    manifest = dirty_build.parent / "reports" / "build-manifest.json"
    fingerprint = json.loads(manifest.read_text(encoding="utf-8"))["fingerprint"]
    with dg.DagsterInstance.get() as instance:
        assert Path(instance.root_directory).resolve() == home
        runs = instance.get_runs(dg.RunsFilter(tags={"armtrace/fingerprint": fingerprint[:12]}))
    assert [(run.status, run.tags.get("armtrace/trigger")) for run in runs] == [
        (dg.DagsterRunStatus.SUCCESS, "cli")]
    assert project_instance_files() == pytestconfig.stash[PROJECT_INSTANCE_AT_START]


def test_dg_loads_the_project_from_the_repo_root() -> None:
    dg_cli = shutil.which("dg", path=str(REPO_ROOT / ".venv" / "bin"))
    assert dg_cli, "dg is installed with the project"
    result = subprocess.run([dg_cli, "check", "defs"], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "All definitions loaded successfully" in result.stdout + result.stderr


def test_materialize_writes_a_published_database(tmp_path: Path) -> None:
    raw = write_dirty_raw_folder(tmp_path / "raw")
    paths = Paths.resolve(raw, tmp_path / "curated", tmp_path / "reports")
    resources = build_definitions(paths).resources
    result = dg.materialize(
        [*ASSETS, *ASSET_CHECKS], resources=resources, instance=dg.DagsterInstance.ephemeral(),
        run_config={"ops": {"normalised_rows": {"config": {"today": TODAY}}}},
    )
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert [c.passed for c in checks] == [True] * len(ASSET_CHECKS)
    materialized = {e.asset_key.to_user_string(): e.materialization.metadata
                    for e in result.get_asset_materialization_events()}
    assert materialized["normalised_rows"]["rows_in"].value == 28
    assert materialized["normalised_rows"]["models_not_in_reference"].value == {"Makarov": 1}
    assert materialized["file_reads"]["unmatched_headers"].value == {}
    assert materialized["file_reads"]["header_warnings"].value == []
    assert materialized["resolved_rows"]["merged_by_rule"].value == {
        "double_entry": 1, "identical_row": 1, "re_documented_item": 1}
    with duckdb.connect(str(paths.database), read_only=True) as con:
        assert con.sql("SELECT count(*) FROM items").fetchall() == [(15,)]


KINDS = {
    "frame": lambda folder: pl.DataFrame({"a": [1, 2]}),
    "parts": lambda folder: write_parts(folder, {"a": pl.Int64},
                                        [pl.DataFrame({"a": [1]}), pl.DataFrame({"a": [2]})]),
}


@pytest.mark.parametrize(("first", "second"), list(itertools.permutations(KINDS, 2)))
def test_stage_frames_replace_a_previous_output_of_another_kind(
        tmp_path: Path, first: str, second: str) -> None:
    """A stage's output may be a frame or parts (a folder moved into place); a later build
    must replace whatever an earlier one left, and read it back whole."""
    with dg.build_init_resource_context() as init:
        manager = StageFrames(base_dir=str(tmp_path / "stages")).create_io_manager(init)
    for kind in (first, second):
        manager.handle_output(dg.build_output_context(asset_key="rows"),
                              KINDS[kind](tmp_path / f"{kind}-parts"))
    upstream = dg.build_output_context(asset_key="rows")
    for annotation in (pl.DataFrame, pl.LazyFrame):
        loaded = manager.load_input(dg.build_input_context(
            asset_key=dg.AssetKey("rows"), upstream_output=upstream,
            dagster_type=dg.PythonObjectDagsterType(annotation)))
        assert isinstance(loaded, annotation)
        frame = loaded.collect() if isinstance(loaded, pl.LazyFrame) else loaded
        assert frame["a"].to_list() == [1, 2]


def test_duckdb_spills_past_its_memory_limit_instead_of_caching_most_of_the_machine(
        tmp_path: Path) -> None:
    paths = Paths.resolve(tmp_path / "raw", tmp_path / "curated", tmp_path / "reports")
    paths.work_dir.mkdir(parents=True)
    duckdb_resource = build_definitions(paths).resources["duckdb"]
    with duckdb_resource.get_connection() as con:
        ((limit, spill),) = con.sql("SELECT current_setting('memory_limit'), "
                                    "current_setting('temp_directory')").fetchall()
    assert limit == "1.8 GiB"  # DuckDB prints 2GB (10^9 bytes) in GiB
    assert spill == str(paths.work_dir / "duckdb-spill")


def test_the_checkpoint_keeps_the_row_groups_as_written(tmp_path: Path) -> None:
    """DuckDB copies each Parquet part into row groups of 122,880 rows and a short remainder.
    Merging the remainders at the checkpoint rewrote (decompressed and compressed again)
    much of items: the build's database must keep them as written."""
    paths = Paths.resolve(tmp_path / "raw", tmp_path / "curated", tmp_path / "reports")
    paths.work_dir.mkdir(parents=True)
    for part in range(2):
        pl.DataFrame({"record_id": [f"R-{part}-{n}" for n in range(130_000)]}).write_parquet(
            tmp_path / f"part-{part}.parquet")
    with build_definitions(paths).resources["duckdb"].get_connection() as con:
        con.execute(f"CREATE TABLE items AS SELECT * FROM "
                    f"read_parquet('{tmp_path / 'part-*.parquet'}')")
        written = con.sql("SELECT count(DISTINCT row_group_id) "
                          "FROM pragma_storage_info('items')").fetchall()
        con.execute("CHECKPOINT")
        kept = con.sql("SELECT count(DISTINCT row_group_id) "
                       "FROM pragma_storage_info('items')").fetchall()
    assert written == kept == [(4,)]  # 122,880 + 7,120 rows for each part
