"""Seeded fuzz of the read stage and everything after it: random mutations of the shipped
sample's delimited logs and workbooks (bytes, cells, encodings, line endings, the workbook's
XML and archive) never give a traceback, a crash or an unbalanced row accounting, and every
mutant ends with a status and, if any, reasons the docs list.

Bounded: MUTANTS files of at most ROWS rows each, in ONE build. Another seed explores other
mutants: ARMTRACE_FUZZ_SEED=7 make test (the seed is in every failure message).
"""

from __future__ import annotations

import io
import os
import random
import re
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter

from pipeline.paths import REPO_ROOT
from pipeline.provenance import SYNTHETIC_LABEL
from tests.test_hostile_input import rows_placed_and_read
from tests.test_odd_files import Built, shared_build

SEED = int(os.environ.get("ARMTRACE_FUZZ_SEED", "21"))
DELIMITED_MUTANTS, WORKBOOK_MUTANTS = 18, 8
ROWS = 30
SAMPLE = REPO_ROOT / "data" / "raw" / "items"
UNMARKED = "fuzzed from the sample".ljust(len(SYNTHETIC_LABEL), ".")
"""Replaces the sample's mark in the mutants, whose damage may or may not keep it: a build of
sample files and others would be refused (pipeline/provenance.py), and this one must run."""
HOSTILE_TEXT = [
    "\x00", "\r", "\n", "\r\n", '"', '\\"', ",", ";", "\t", "|", "\ufeff", "\u200b", "\u00ad",
    "\u0661\u0669\u0668\u0664", "\uff11\uff19\uff18\uff14", "\u06f1\u06f2", "\u0966\u0967",
    "#N/A", "#REF!", "=1+1", "+cmd", "@x", "NaN", "-inf", "1e308", "99999999999999999999999",
    "10,000,001", "0", "-5", "1.5", "n/a", "", " ", "Ζ", "К", "No.", "№", "S/N",
    "x" * 40_000, "é" * 5, "\U0001F600", "2016-02-30", "31/12/9999", "1800", "84",
]
HOSTILE_BYTES = [b"\x00", b"\r", b"\n", b'"', b",", b";", b"\t", b"\\", b"\xef\xbb\xbf",
                 b"\x81", b"\xff", b"\xc3", b"\xe9", b"PK\x03\x04"]


def hostile(rng: random.Random) -> str:
    return rng.choice(HOSTILE_TEXT)


# --- delimited logs -------------------------------------------------------------------------

def flip_bytes(data: bytes, rng: random.Random) -> bytes:
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(data) + 1)
        data = data[:at] + rng.choice(HOSTILE_BYTES) + data[at + rng.randint(0, 1):]
    return data


def replace_cell(data: bytes, rng: random.Random) -> bytes:
    lines = data.split(b"\n")
    line = rng.randrange(len(lines))
    delimiter = max((b",", b";", b"\t", b"|"), key=lines[0].count)
    cells = lines[line].split(delimiter)
    cells[rng.randrange(len(cells))] = hostile(rng).encode()
    lines[line] = delimiter.join(cells)
    return b"\n".join(lines)


def line_endings(data: bytes, rng: random.Random) -> bytes:
    ending = rng.choice([b"\r\n", b"\r", b"\n\r", b"\r\r\n"])
    lines = data.split(b"\n")
    if rng.random() < 0.5:  # all the same
        return ending.join(lines)
    return b"".join(line + rng.choice([b"\n", ending]) for line in lines)


def encoding(data: bytes, rng: random.Random) -> bytes:
    text = data.decode("utf-8", errors="replace")
    codec = rng.choice(["cp1252", "utf-8-sig", "latin-1"] * 2 + ["utf-16", "utf-16-le",
                                                                 "utf-32"])
    return text.encode(codec, errors="replace")


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[:rng.randrange(len(data) + 1)]


def shuffle_lines(data: bytes, rng: random.Random) -> bytes:
    lines = data.split(b"\n")
    body = lines[1:]
    for _ in range(rng.randint(1, 3)):
        kind = rng.choice(["duplicate", "drop", "swap"])
        if not body:
            break
        at = rng.randrange(len(body))
        if kind == "duplicate":
            body.insert(at, body[at])
        elif kind == "drop":
            body.pop(at)
        else:
            other = rng.randrange(len(body))
            body[at], body[other] = body[other], body[at]
    return b"\n".join([lines[0], *body])


TEXT_MUTATIONS: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "bytes": flip_bytes, "cell": replace_cell, "endings": line_endings, "encoding": encoding,
    "truncate": truncate, "lines": shuffle_lines,
}


def delimited_mutant(source: Path, rng: random.Random) -> tuple[bytes, list[str]]:
    unmarked = source.read_bytes().replace(SYNTHETIC_LABEL.encode(), UNMARKED.encode())
    data = b"\n".join(unmarked.split(b"\n")[:ROWS + 1])
    names = rng.sample(sorted(TEXT_MUTATIONS), rng.randint(1, 3))
    # a re-encoding, then byte-level changes, is the order a damaged export has them in
    for name in sorted(names, key=lambda n: n != "cell"):
        data = TEXT_MUTATIONS[name](data, rng)
    return data, names


# --- workbooks --------------------------------------------------------------------------------

def mutate_cells(rows: list[list[str | None]], rng: random.Random,
                 sheet: xlsxwriter.worksheet.Worksheet) -> None:
    for number, cells in enumerate(rows):
        for column, cell in enumerate(cells):
            if number and rng.random() < 0.04:
                kind = rng.choice(["text", "number", "error", "formula", "empty_formula"])
                if kind == "text":
                    sheet.write_string(number, column, hostile(rng)[:32_767])
                elif kind == "number":
                    sheet.write_number(number, column, rng.choice(
                        [1e308, -1.0, 0.5, 1984.0, 10_000_001.0, 1e-300]))
                elif kind == "error":
                    sheet.write_formula(number, column, "=NA()", None, rng.choice(
                        ["#N/A", "#REF!", "#DIV/0!", "#VALUE!", "#NAME?", "#NUM!", "#NULL!"]))
                else:
                    sheet.write_formula(number, column, "=1+1", None,
                                        "" if kind == "empty_formula" else 2)
            elif cell is not None:
                sheet.write_string(number, column, cell)


def archive_patch(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    # mostly workbooks that still open, so that the cells get read
    kind = rng.choice(["none"] * 3 + ["dimension"] * 2 + ["far_cell"] * 2
                      + ["flip", "truncate", "drop_part"])
    if kind in ("flip", "truncate"):
        return (flip_bytes(data, rng) if kind == "flip" else truncate(data, rng)), kind
    if kind == "none":
        return data, kind
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    sheet = next(n for n in parts if n.startswith("xl/worksheets/"))
    if kind == "dimension":
        ref = rng.choice(["A1:XFD1048576", "A1", "B2:A1", "ZZZ9999999", ""])
        parts[sheet] = re.sub(rb'<dimension ref="[^"]*"/>', f'<dimension ref="{ref}"/>'.encode(),
                              parts[sheet])
    elif kind == "far_cell":
        cell = rng.choice(["XFD1048576", "AA5000", "A200000"])
        row = re.sub(r"[A-Z]+", "", cell)
        parts[sheet] = parts[sheet].replace(b"</sheetData>", f'<row r="{row}"><c r="{cell}" '
                                            f't="inlineStr"><is><t>x</t></is></c></row>'
                                            "</sheetData>".encode())
    else:
        parts.pop(rng.choice(sorted(parts)))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, part in parts.items():
            archive.writestr(name, part)
    return buffer.getvalue(), kind


def workbook_mutant(source: Path, rng: random.Random) -> tuple[bytes, list[str]]:
    sheets = pl.read_excel(source, sheet_id=0, engine="calamine", has_header=False,
                           read_options={"dtypes": "string"})
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_numbers": False})
    for name, table in sheets.items():
        rows = [[UNMARKED if cell == SYNTHETIC_LABEL else cell for cell in row]
                for row in table.head(ROWS + 1).rows()]
        mutate_cells(rows, rng, book.add_worksheet(name))
    book.close()
    data, kind = archive_patch(buffer.getvalue(), rng)
    return data, ["cells", kind]


def write_mutants(raw: Path) -> None:
    rng = random.Random(SEED)
    delimited = sorted(p for p in SAMPLE.rglob("*") if p.suffix in (".csv", ".tsv", ".txt"))
    workbooks = sorted(SAMPLE.rglob("*.xlsx"))
    folder = raw / "items" / "fuzz"
    folder.mkdir(parents=True)
    for number in range(DELIMITED_MUTANTS + WORKBOOK_MUTANTS):
        is_workbook = number >= DELIMITED_MUTANTS
        source = rng.choice(workbooks if is_workbook else delimited)
        data, mutations = (workbook_mutant if is_workbook else delimited_mutant)(source, rng)
        name = f"m{number:02d}-{source.parent.name}-{source.stem}-{'+'.join(mutations)}"
        (folder / f"{name}{source.suffix}").write_bytes(data)


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[Built]:
    build = shared_build(tmp_path_factory, worker_id, f"fuzz-{SEED}", write_mutants, {})
    yield build
    build.con.close()


def test_the_build_publishes_without_a_traceback(fuzzed: Built) -> None:
    assert fuzzed.code == 0, f"seed {SEED}: {fuzzed.output}"
    assert "Traceback" not in fuzzed.output, f"seed {SEED}"


def test_every_row_read_is_in_exactly_one_place(fuzzed: Built) -> None:
    placed, read = rows_placed_and_read(fuzzed.con)
    assert placed == read, f"seed {SEED}"


def test_every_mutant_ends_with_a_status_and_documented_reasons(fuzzed: Built) -> None:
    files = fuzzed.con.sql("SELECT path, status, problem, rows_read FROM source_files").pl()
    assert files.height == DELIMITED_MUTANTS + WORKBOOK_MUTANTS, f"seed {SEED}"
    assert set(files["status"]) <= {"ok", "unreadable", "missing_columns"}, f"seed {SEED}"
    unreadable = files.filter(pl.col("status") == "unreadable")
    assert unreadable["problem"].null_count() == 0 and set(unreadable["rows_read"]) <= {1}
    documented = (REPO_ROOT / "docs" / "quarantine-reasons.md").read_text()
    reasons = fuzzed.con.sql("SELECT reasons, problems FROM quarantine").pl()
    for row in reasons.iter_rows(named=True):
        assert row["reasons"], f"seed {SEED}: a quarantined row without a reason"
        assert {p.split(":", 1)[0] for p in row["problems"]} == set(row["reasons"])
        for reason in row["reasons"]:
            assert f"`{reason}`" in documented, f"seed {SEED}: {reason}"


def test_the_fuzz_reaches_both_outcomes(fuzzed: Built) -> None:
    """Not a fuzz that only ever breaks files: some mutants are read, some refused."""
    statuses = {s for (s,) in fuzzed.con.sql("SELECT status FROM source_files").fetchall()}
    assert {"ok", "unreadable"} <= statuses, f"seed {SEED}"
    assert fuzzed.con.sql("SELECT count(*) FROM items").fetchall()[0][0] > 0
