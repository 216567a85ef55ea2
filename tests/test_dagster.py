"""The Dagster definitions load, and the asset graph materialises on a throwaway database."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import dagster as dg
import duckdb

from pipeline.assets import ASSETS
from pipeline.checks import ASSET_CHECKS
from pipeline.definitions import build_definitions, defs
from pipeline.paths import REPO_ROOT, Paths
from tests.conftest import TODAY, write_dirty_raw_folder

STAGE_GROUPS = {"ingest", "clean", "resolve", "publish", "figures", "report"}


def test_definitions_load_with_every_asset_grouped_and_described() -> None:
    dg.Definitions.validate_loadable(defs)
    specs = list(defs.resolve_all_asset_specs())
    assert {spec.group_name for spec in specs} == STAGE_GROUPS
    assert all(spec.description for spec in specs), [s.key for s in specs if not s.description]
    assert defs.resolve_job_def("build") is not None


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
    assert materialized["parsed_rows"]["rows_in"].value == 28
    assert materialized["resolved_rows"]["merged_by_rule"].value == {
        "double_entry": 1, "identical_row": 1, "re_documented_item": 1}
    with duckdb.connect(str(paths.database), read_only=True) as con:
        assert con.sql("SELECT count(*) FROM items").fetchall() == [(15,)]
