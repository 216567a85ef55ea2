"""Stage 1: every raw file listed in path order with its own size and SHA-256; hidden files
and Office lock files are not exports."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pipeline.stages.discover import discover_raw_files


def test_each_file_is_fingerprinted_by_its_own_bytes_in_path_order(tmp_path: Path) -> None:
    contents = {  # sizes differ, so that files hashed at once finish out of order
        "items/team-b/2017.csv": b"record_id,site\n" + b"x,Mosul\n" * 200_000,
        "items/team-a/2016.csv": b"record_id,site\nr1,Tikrit\n",
        "items/team-a/2016.xlsx": b"PK\x03\x04 not really a workbook",
        "transfers/romania.csv": b"transfer_id\nt1\n",
        "README.md": b"notes",
        "items/team-a/.2016.csv.swp": b"editor swap file",
        "items/team-a/~$2016.xlsx": b"Excel lock file",
        ".git/config": b"hidden folder",
    }
    for relative, data in contents.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(data)
    found = discover_raw_files(tmp_path)
    assert found.select("path", "dataset", "format").rows() == [
        ("README.md", "other", "unsupported"),
        ("items/team-a/2016.csv", "items", "delimited"),
        ("items/team-a/2016.xlsx", "items", "xlsx"),
        ("items/team-b/2017.csv", "items", "delimited"),
        ("transfers/romania.csv", "transfers", "delimited"),
    ]
    for path, size, sha256 in found.select("path", "size_bytes", "sha256").rows():
        assert size == len(contents[path])
        assert sha256 == hashlib.sha256(contents[path]).hexdigest()
