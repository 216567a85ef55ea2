"""The synthetic label follows from the raw files (their SHA-256 and the sample's own mark),
never from SYNTHETIC.md; sample files beside other logs are refused and nothing published."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipeline.cli import EXIT_FAILED, main, print_summary
from pipeline.paths import REPO_ROOT
from pipeline.provenance import (
    SAMPLE_FILES,
    SYNTHETIC_LABEL,
    MixedRawFolder,
    carries_mark,
    raw_provenance,
)
from pipeline.report.build import build_reports
from pipeline.stages.discover import discover_raw_files
from pipeline.stages.figures import FigureSettings
from tests.conftest import SHIPPED_SAMPLE, TODAY, write_dirty_raw_folder, write_log

REFERENCE = REPO_ROOT / "data" / "reference"
REAL_ROW = {"record_id": "T-1", "documented_on": "2016-01-02", "documented_in": "Iraq",
            "site": "Mosul", "category": "rifle", "quantity": "1",
            "dataset": "SYNTHETIC"}  # a word of the label is not the label


def sample_copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(SHIPPED_SAMPLE, tmp_path / "raw"))


def provenance_of(raw: Path, reference: Path = REFERENCE):
    return raw_provenance(raw, discover_raw_files(raw), reference)


def build_args(raw: Path, root: Path) -> list[str]:
    return ["build", "--raw", str(raw), "--curated", str(root / "curated"),
            "--reports", str(root / "reports"), "--today", TODAY]


def test_the_shipped_sample_is_all_sample_files_even_without_synthetic_md(
        tmp_path: Path) -> None:
    raw = sample_copy(tmp_path)
    (raw / "SYNTHETIC.md").unlink()
    provenance = provenance_of(raw)
    assert provenance.synthetic and provenance.other_files == ()
    assert len(provenance.sample_files) == 20  # 17 item logs and 3 transfer records


def test_a_real_log_beside_the_sample_is_refused_by_name_and_nothing_published(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = sample_copy(tmp_path)
    write_log(raw / "items" / "team-z" / "2024-export.csv", [REAL_ROW])
    assert main(build_args(raw, tmp_path)) == EXIT_FAILED
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith(f"armtrace build: mixed raw folder {raw}: ")
    assert ("20 files of the synthetic sample (items/car-2014-study/cartridges-jul-aug-2014.txt, "
            "items/iraq-north/2014-export.csv, items/iraq-north/2015-export.csv and 17 more) "
            "beside 1 file of other logs (items/team-z/2024-export.csv); nothing was "
            "published: ") in err
    assert "--raw DIR" in err and "From the sample to your own logs" in err
    assert not (tmp_path / "reports" / "statistics.json").exists()
    assert not (tmp_path / "curated" / "armtrace.duckdb").exists()


def test_the_report_stage_refuses_a_mix_before_writing_anything(tmp_path: Path) -> None:
    """What a build started from Dagster (UI, sensor, schedule) meets: the same decision."""
    raw = sample_copy(tmp_path)
    write_log(raw / "transfers" / "ours.csv", [{"transfer_id": "X-1"}])
    files = discover_raw_files(raw)
    with duckdb.connect() as con:
        con.register("raw_files", files)
        con.execute("CREATE TABLE source_files AS SELECT path, dataset, sha256 FROM raw_files")
        with pytest.raises(MixedRawFolder, match=r"beside 1 file of other logs "
                                                 r"\(transfers/ours\.csv\)"):
            build_reports(con, tmp_path / "staging", raw, REFERENCE, FigureSettings())
    assert not (tmp_path / "staging").exists()


def test_a_stray_synthetic_md_beside_real_logs_labels_nothing(tmp_path: Path) -> None:
    raw = write_dirty_raw_folder(tmp_path / "raw")
    shutil.copy(SHIPPED_SAMPLE / "SYNTHETIC.md", raw / "SYNTHETIC.md")
    provenance = provenance_of(raw)
    assert not provenance.synthetic and provenance.sample_files == ()
    assert len(provenance.other_files) == 6  # the logs; README.md and SYNTHETIC.md are no data


def test_a_build_of_real_logs_carries_no_label(
        dirty_build: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reports = dirty_build.parent / "reports"
    assert json.loads((reports / "statistics.json").read_text())["synthetic"] is False
    assert "Synthetic data." not in (reports / "index.html").read_text()
    print_summary(dirty_build / "armtrace.duckdb",
                  provenance_of(write_dirty_raw_folder(tmp_path / "raw")))
    assert ("data: real (6 files, none of them a sample file): the report carries no "
            "synthetic label") in capsys.readouterr().out.splitlines()


def test_an_edited_sample_log_is_still_a_sample_file(tmp_path: Path) -> None:
    raw = sample_copy(tmp_path)
    log = raw / "items" / "iraq-north" / "2015-export.csv"
    lines = log.read_text(encoding="utf-8").splitlines(keepends=True)
    log.write_text("".join(lines[:1] + lines[2:]), encoding="utf-8")  # a row deleted
    workbook = raw / "items" / "syria-east" / "2016-export.xlsx"
    pl.read_excel(workbook, sheet_name="Items").write_excel(workbook)  # saved again, no Read me
    provenance = provenance_of(raw)
    assert provenance.synthetic and provenance.other_files == ()


def test_a_sample_log_stripped_of_its_label_is_not_taken_for_real(tmp_path: Path) -> None:
    raw = sample_copy(tmp_path)
    log = raw / "items" / "iraq-south" / "2016-export.csv"
    log.write_bytes(log.read_bytes().replace(SYNTHETIC_LABEL.encode(), b"field team"))
    with pytest.raises(MixedRawFolder, match=r"beside 1 file of other logs "
                                             r"\(items/iraq-south/2016-export\.csv\)"):
        provenance_of(raw)


def test_the_mark_is_the_whole_label_within_the_window(tmp_path: Path) -> None:
    near = tmp_path / "near.csv"
    near.write_text(f"dataset\n{SYNTHETIC_LABEL[:-1]}\n")
    assert not carries_mark(near)
    near.write_text(f"dataset\n{SYNTHETIC_LABEL}\n")
    assert carries_mark(near)


def test_without_the_fingerprint_table_the_marks_still_tell_the_item_logs(
        tmp_path: Path) -> None:
    """A reference folder with no sample_files.csv: the sample's transfer records carry no
    mark, so the sample reads as a mix and is refused, never published as real."""
    reference = Path(shutil.copytree(REFERENCE, tmp_path / "reference"))
    (reference / SAMPLE_FILES).unlink()
    with pytest.raises(MixedRawFolder, match=r"17 files of the synthetic sample .* beside 3 "
                                             r"files of other logs \(transfers/"):
        provenance_of(SHIPPED_SAMPLE, reference)


def test_a_damaged_fingerprint_table_is_a_named_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reference = Path(shutil.copytree(REFERENCE, tmp_path / "reference"))
    (reference / SAMPLE_FILES).write_text("path\nSYNTHETIC.md\n")
    code = main([*build_args(SHIPPED_SAMPLE, tmp_path), "--reference", str(reference)])
    assert code == EXIT_FAILED
    assert capsys.readouterr().err.strip() == (
        f"armtrace build: {reference / SAMPLE_FILES}: the first line must name the columns "
        f"sha256, path, seed, scale: restore it from the project")


def test_recording_another_sample_keeps_the_shipped_samples_rows(tmp_path: Path) -> None:
    table = Path(shutil.copy(REFERENCE / SAMPLE_FILES, tmp_path / SAMPLE_FILES))
    assert main(["sample", "--out", str(tmp_path / "s"), "--seed", "5",
                 "--fingerprints", str(table)]) == 0
    recorded = pl.read_csv(table)
    shipped = pl.read_csv(REFERENCE / SAMPLE_FILES)
    assert recorded.filter(seed=2017).equals(shipped)
    seed_5 = recorded.filter(seed=5)
    assert seed_5.height == shipped.height
    # the transfer records do not depend on the seed; the item logs do
    assert seed_5.join(shipped, on=["path", "sha256"]).get_column("path").to_list() == [
        "transfers/bulgaria-2015-9m111.csv", "transfers/india-2015-detonators.csv",
        "transfers/romania-2014-pg9.csv"]
    assert main(["sample", "--out", str(tmp_path / "again"), "--seed", "5",
                 "--fingerprints", str(table)]) == 0
    assert pl.read_csv(table).equals(recorded)  # the same seed and scale replaced, not added
