"""Workbooks are evidence, not trusted programs: checked before a reader sees them, and read
in a process of their own that cannot take the build down.

An XLSX workbook is a ZIP archive of XML parts. calamine (through fastexcel) holds each sheet
as a dense grid, so one cell at XFD1048576 asks for half a terabyte, and a Rust allocation
failure aborts the whole process; a shared string of 2 GiB makes it panic. Two lines of
defence, each a setting with a default (LIMITS):

1. `check_workbook` reads the archive's directory and the head of each sheet, never the
   content: how many parts, each part's unpacked size and compression ratio, the shared
   strings' size and each sheet's declared range (`<dimension ref=...>`). A workbook out of
   proportion is refused with the part, the figure and the limit.
2. `read_workbook` reads the sheets in a process of its own with an address-space limit
   (RLIMIT_AS) and a time limit, forked from a process that imported the reader once (run as
   `python -m pipeline.stages.workbook_guard`). A sheet whose declared range lies, or that
   has none, is caught there: the process runs out of memory or time, and the build is told
   so by name instead of dying. The process writes each sheet as Arrow IPC and a manifest.

Besides the cells, the child reports the spreadsheet error cells (`#N/A`, `#REF!`, ...) and
the formulas with no stored result, which calamine reads as blanks.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import select
import signal
import struct
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from xml.etree import ElementTree

GiB = 1024**3
MiB = 1024**2


@dataclass(frozen=True)
class Limit:
    env: str
    default: int
    what: str


LIMITS = {
    "memory": Limit("ARMTRACE_MAX_WORKBOOK_MEMORY", 2 * GiB,
                    "address space of the process that reads one workbook, in bytes"),
    "seconds": Limit("ARMTRACE_MAX_WORKBOOK_SECONDS", 60, "seconds to read one workbook"),
    "parts": Limit("ARMTRACE_MAX_WORKBOOK_PARTS", 10_000, "parts (files) in one workbook"),
    "part_bytes": Limit("ARMTRACE_MAX_WORKBOOK_PART_BYTES", 1 * GiB,
                        "unpacked bytes of one part of a workbook"),
    "shared_strings_bytes": Limit("ARMTRACE_MAX_WORKBOOK_SHARED_STRINGS_BYTES", 256 * MiB,
                                  "unpacked bytes of a workbook's shared strings"),
    "ratio": Limit("ARMTRACE_MAX_WORKBOOK_RATIO", 200,
                   "unpacked size / packed size of a part larger than 1 MiB"),
    "cells": Limit("ARMTRACE_MAX_WORKBOOK_CELLS", 25_000_000,
                   "cells (rows x columns) a sheet declares"),
    # Any log, read into the build's own process: a cell costs about 70 bytes there (a file of
    # 36 MB of commas took 2.4 GB), an ordinary row of 17 cells about 1.6 KB.
    "file_cells": Limit("ARMTRACE_MAX_FILE_CELLS", 20_000_000,
                        "cells (lines x columns) of one log read into the build"),
    "corrections_bytes": Limit("ARMTRACE_MAX_CORRECTIONS_BYTES", 1 * MiB,
                               "bytes of one corrections file (about 4,000 entries)"),
}
RATIO_FLOOR_BYTES = 1 * MiB  # smaller parts compress as they like: they cannot exhaust memory
HEAD_BYTES = 64 * 1024  # where a sheet's <dimension> is: before its first row
STRUCTURE_PART_BYTES = 16 * MiB  # workbook.xml and its relationships are parsed whole
EXCEL_ERRORS = {  # calamine's CellErrorType -> the text a spreadsheet shows
    "Div0": "#DIV/0!", "NA": "#N/A", "Name": "#NAME?", "Null": "#NULL!", "Num": "#NUM!",
    "Ref": "#REF!", "Value": "#VALUE!", "GettingData": "#GETTING_DATA",
}
SPLIT_OR_CLEAN = ("delete what lies beyond the data (Ctrl+End in Excel shows the last cell) "
                  "and save it, or split the workbook")


class SettingError(ValueError):
    """A limit set in the environment is not a positive whole number."""


class WorkbookRefused(Exception):
    """The workbook is out of proportion or cannot be read; the message says why and what to
    do."""


def limit(name: str) -> int:
    """The value of LIMITS[name]: its environment variable, else its default."""
    setting = LIMITS[name]
    text = os.environ.get(setting.env, "").strip()
    if not text:
        return setting.default
    if not text.isdigit() or int(text) == 0:
        raise SettingError(f"{setting.env}={text!r} is not a positive whole number "
                           f"({setting.what})")
    return int(text)


def _over(name: str, unit: str = "") -> str:
    return f"more than the limit of {limit(name):,}{unit} (${LIMITS[name].env})"


# --- 1. the archive, before any reader sees it -----------------------------------------------

def check_workbook(path: Path) -> None:
    """Raise WorkbookRefused when the workbook's archive is damaged or out of proportion.

    Reads the ZIP's end record and directory, workbook.xml and its relationships, and the
    first 64 KiB of each sheet (where `<dimension>` is): never a sheet's cells.
    """
    for name in LIMITS:  # a limit set wrongly fails the build, even one this file never needs
        limit(name)
    parts = _part_count(path)
    if parts > limit("parts"):
        raise WorkbookRefused(f"the archive holds {parts:,} parts, {_over('parts')}: "
                              "not a spreadsheet export; re-export the workbook")
    try:
        with zipfile.ZipFile(path) as archive:
            _check_parts(archive.infolist())
            for name, part in _sheet_parts(archive):
                _check_dimension(archive, name, part)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError,
            OSError, ElementTree.ParseError, UnicodeDecodeError) as error:
        raise WorkbookRefused(_damaged(error)) from None


def _damaged(error: BaseException) -> str:
    first_line = (str(error).strip().split("\n", 1)[0] or type(error).__name__)[:200]
    return f"not a readable XLSX workbook ({first_line}): re-export it"


def _part_count(path: Path) -> int:
    """The number of parts the ZIP's end record declares, read before zipfile parses the
    directory: a directory of millions of entries would fill memory with their names."""
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - 65_557))  # the end record and its longest comment
        tail = handle.read()
    end = tail.rfind(b"PK\x05\x06")
    if end < 0 or len(tail) < end + 22:
        raise WorkbookRefused(_damaged(zipfile.BadZipFile("no ZIP end record: the file is "
                                                          "truncated or damaged")))
    count = struct.unpack("<H", tail[end + 10:end + 12])[0]
    zip64 = tail.rfind(b"PK\x06\x06", 0, end)  # ZIP64: the count is in a record of its own
    if count == 0xFFFF and zip64 >= 0 and len(tail) >= zip64 + 40:
        count = struct.unpack("<Q", tail[zip64 + 32:zip64 + 40])[0]
    return count


def _check_parts(parts: list[zipfile.ZipInfo]) -> None:
    for part in parts:
        if part.flag_bits & 0x1:
            raise WorkbookRefused(f"the part {part.filename!r} is encrypted: remove the "
                                  "password and save the workbook again")
        shared = PurePosixPath(part.filename).name.lower() == "sharedstrings.xml"
        name = "shared_strings_bytes" if shared else "part_bytes"
        if part.file_size > limit(name):
            raise WorkbookRefused(
                f"the part {part.filename!r} unpacks to {part.file_size:,} bytes, "
                f"{_over(name, ' bytes')}: a zip bomb, or a workbook too large to "
                "read at once; split the workbook")
        ratio = part.file_size / max(part.compress_size, 1)
        if part.file_size > RATIO_FLOOR_BYTES and ratio > limit("ratio"):
            raise WorkbookRefused(
                f"the part {part.filename!r} unpacks {ratio:,.0f} times larger than it is "
                f"stored ({part.compress_size:,} -> {part.file_size:,} bytes), "
                f"{_over('ratio')}: out of proportion for a spreadsheet (a zip "
                "bomb); re-export the workbook")


def _sheet_parts(archive: zipfile.ZipFile) -> Iterator[tuple[str, str]]:
    """(sheet name, part) of every worksheet, as workbook.xml lists them, then any other part
    under xl/worksheets/ (named by its part)."""
    listed = dict(sheet_targets(archive))
    names = set(archive.namelist())
    yield from ((name, part) for name, part in listed.items() if part in names)
    seen = set(listed.values())
    for part in sorted(names):
        if part.startswith("xl/worksheets/") and part.endswith(".xml") and part not in seen:
            yield part, part


def _small_xml(archive: zipfile.ZipFile, part: str) -> ElementTree.Element | None:
    try:
        info = archive.getinfo(part)
    except KeyError:
        return None
    if info.file_size > STRUCTURE_PART_BYTES:
        raise WorkbookRefused(f"the part {part!r} unpacks to {info.file_size:,} bytes, more "
                              f"than the {STRUCTURE_PART_BYTES:,} a workbook's structure "
                              "takes: re-export the workbook")
    return ElementTree.fromstring(archive.read(part))


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def sheet_targets(archive: zipfile.ZipFile) -> list[tuple[str, str]]:
    """(sheet name, part name) of each sheet in workbook order, as workbook.xml and its
    relationships give them (the order and names calamine reads)."""
    book, rels = _small_xml(archive, "xl/workbook.xml"), _small_xml(
        archive, "xl/_rels/workbook.xml.rels")
    if book is None or rels is None:
        return []
    targets = {}
    for rel in rels.iter():
        if _local(rel.tag) == "Relationship" and rel.get("Target"):
            target = rel.get("Target", "")
            part = target.lstrip("/") if target.startswith("/") else str(
                PurePosixPath("xl") / target)
            targets[rel.get("Id")] = os.path.normpath(part).replace(os.sep, "/")
    sheets = []
    for sheet in book.iter():
        if _local(sheet.tag) == "sheet":
            rel_id = next((v for k, v in sheet.attrib.items() if _local(k) == "id"), None)
            if rel_id in targets:
                sheets.append((sheet.get("name", rel_id), targets[rel_id]))
    return sheets


DIMENSION = re.compile(rb"<(?:\w+:)?dimension\s+ref=\"\$?([A-Z]{1,3})\$?(\d{1,7})"
                       rb"(?::\$?([A-Z]{1,3})\$?(\d{1,7}))?\"")


def column_number(letters: str) -> int:
    """1 for A, 27 for AA, 16384 for XFD."""
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - ord("A") + 1
    return number


def _check_dimension(archive: zipfile.ZipFile, sheet: str, part: str) -> None:
    with archive.open(part) as stream:
        head = stream.read(HEAD_BYTES)
    found = DIMENSION.search(head)
    if not found:
        return  # no declared range: the child's memory limit is the guard
    first_col, first_row, last_col, last_row = (g.decode() if g else None for g in found.groups())
    last_col, last_row = last_col or first_col, last_row or first_row
    rows = abs(int(last_row) - int(first_row)) + 1
    columns = abs(column_number(last_col) - column_number(first_col)) + 1
    cells = rows * columns
    if cells > limit("cells"):
        ref = f"{first_col}{first_row}:{last_col}{last_row}"
        raise WorkbookRefused(
            f"sheet {sheet!r} declares the range {ref} ({rows:,} rows x {columns:,} columns = "
            f"{cells:,} cells), {_over('cells', ' cells')}: reading it would exhaust "
            f"memory; {SPLIT_OR_CLEAN}")


# --- 2. the sheets, read in a child process --------------------------------------------------

@dataclass(frozen=True)
class SheetRead:
    """One sheet as the child read it: its cells as text (Arrow IPC at `cells`, one column
    per sheet column, row 0 first) and its spreadsheet errors as (row, column, text) in those
    coordinates; `formula` marks a formula with no stored result (text is its formula)."""

    name: str
    cells: Path
    errors: list[tuple[int, int, str, bool]]


class ReaderUnavailable(RuntimeError):
    """The process that reads workbooks cannot be started or died: the machine's problem, not
    a file's, so it fails the build rather than marking every workbook unreadable."""


class _Zygote:
    """A process that has imported the reader once (0.6 s, pyarrow mostly) and forks a child
    for each workbook, so that a workbook's process starts in milliseconds; started by the
    first workbook read, it ends when the build's process does (its stdin closes).

    One line of JSON each way: the request; the child's pid; its exit status. Python's
    multiprocessing forkserver was tried: each child re-imports the parent's main module
    (the `armtrace` script, pytest), which a script without a main guard would run again.
    """

    def __init__(self) -> None:
        package_root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            filter(None, (package_root, os.environ.get("PYTHONPATH"))))}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pipeline.stages.workbook_guard"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, bufsize=0)
        self.pending = b""

    def alive(self) -> bool:
        return self.process.poll() is None

    def line(self, timeout: float | None) -> dict | None:
        """The next line the zygote writes, or None when `timeout` seconds pass first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self.pending:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self.process.stdout], [], [], left)
            if not ready:
                return None
            chunk = os.read(self.process.stdout.fileno(), 4096)
            if not chunk:
                raise ReaderUnavailable("the workbook reader's process ended; see that "
                                        "fastexcel and pyarrow are installed (make setup)")
            self.pending += chunk
        line, self.pending = self.pending.split(b"\n", 1)
        return json.loads(line)

    def read(self, path: Path, work_dir: Path, memory: int, seconds: int) -> tuple[int, bool]:
        """The exit status of the child that read `path` (negative: the signal), and whether
        it was stopped for taking longer than `seconds`."""
        request = {"path": str(path), "work_dir": str(work_dir), "memory": memory}
        try:
            self.process.stdin.write(json.dumps(request).encode() + b"\n")
        except BrokenPipeError:
            raise ReaderUnavailable("the workbook reader's process ended") from None
        pid = self.line(None)["pid"]
        done = self.line(seconds)
        timed_out = done is None
        if timed_out:
            with contextlib.suppress(ProcessLookupError):  # it may have ended just now
                os.kill(pid, signal.SIGKILL)
            done = self.line(None)
        return done["status"], timed_out


_zygote: _Zygote | None = None
_zygote_lock = threading.Lock()


def _read_in_child(path: Path, work_dir: Path, memory: int, seconds: int) -> tuple[int, bool]:
    global _zygote
    with _zygote_lock:
        if _zygote is None or not _zygote.alive():
            _zygote = _Zygote()
        return _zygote.read(path, work_dir, memory, seconds)


def _serve() -> None:
    """The zygote: import the reader, then fork a child for each request on stdin."""
    import fastexcel  # noqa: F401 - imported once here, inherited by every child
    import pyarrow.ipc  # noqa: F401

    for line in sys.stdin.buffer:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:  # the child: stdin and stdout are the zygote's conversation
            os.dup2(os.open(os.devnull, os.O_RDWR), 0)
            os.dup2(0, 1)
            _child(Path(request["path"]), Path(request["work_dir"]), request["memory"])
            os._exit(0)
        sys.stdout.write(json.dumps({"pid": pid}) + "\n")
        sys.stdout.flush()
        _, status = os.waitpid(pid, 0)
        sys.stdout.write(json.dumps({"status": os.waitstatus_to_exitcode(status)}) + "\n")
        sys.stdout.flush()


def read_workbook(path: Path, work_dir: Path) -> list[SheetRead]:
    """Every sheet of the workbook at `path`, read in a process of its own limited in memory
    and time; its files are written in `work_dir`. Raises WorkbookRefused, saying why, when
    the process fails, runs out of memory or time, or the reader rejects the workbook."""
    memory, seconds = limit("memory"), limit("seconds")
    code, timed_out = _read_in_child(path, work_dir, memory, seconds)
    if timed_out:
        raise WorkbookRefused(
            f"reading it took longer than the limit of {seconds:,} s "
            f"(${LIMITS['seconds'].env}): a sheet out of proportion, or a machine too busy; "
            f"{SPLIT_OR_CLEAN}")
    manifest_path, stderr_path = work_dir / "manifest.json", work_dir / "stderr.txt"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    said = stderr_path.read_bytes()[:65536].decode(errors="replace") if (
        stderr_path.exists()) else ""
    if code == 0 and "sheets" in manifest:
        return [SheetRead(s["name"], work_dir / s["cells"],
                          [tuple(e) for e in s["errors"]]) for s in manifest["sheets"]]
    if manifest.get("failure") == "memory" or code == -signal.SIGKILL or (
            code == -signal.SIGABRT and "memory allocation" in said):
        raise WorkbookRefused(
            f"reading it needs more than the memory limit of {memory:,} bytes "
            f"(${LIMITS['memory'].env}): a cell far beyond the others or content out of "
            f"proportion; {SPLIT_OR_CLEAN}")
    if "failure" in manifest:
        raise WorkbookRefused(f"not a readable XLSX workbook ({manifest['failure']}): "
                              "re-export it")
    how = (f"signal {signal.Signals(-code).name}" if -code in signal.valid_signals()
           else f"exit code {code}")
    last_words = said.strip().splitlines()[0][:200] if said.strip() else "no message"
    raise WorkbookRefused(f"the workbook reader stopped ({how}: {last_words}): re-export "
                          "the workbook, and report the file to the armtrace maintainers if "
                          "it opens in a spreadsheet program")


def _child(path: Path, work_dir: Path, memory: int) -> None:
    """The workbook's process: every sheet's cells to Arrow IPC and the manifest to
    manifest.json in `work_dir`, what the reader prints to stderr.txt there."""
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # an abort must not write gigabytes
    with (work_dir / "stderr.txt").open("wb") as stderr:
        os.dup2(stderr.fileno(), 2)  # a Rust panic or abort prints there, not in the build
    os.environ["RUST_BACKTRACE"] = "0"  # the first line says what happened
    manifest: dict = {}
    try:
        manifest["sheets"] = list(_read_sheets(path, work_dir))
    except MemoryError:
        manifest = {"failure": "memory"}
    except BaseException as error:  # a pyo3 PanicException is a BaseException
        first_line = (str(error).strip().split("\n", 1)[0] or type(error).__name__)[:200]
        manifest = {"failure": first_line}
    (work_dir / "manifest.json").write_text(json.dumps(manifest))


def _read_sheets(path: Path, work_dir: Path) -> Iterator[dict]:
    import fastexcel
    import pyarrow as pa

    reader = fastexcel.read_excel(str(path))
    with zipfile.ZipFile(path) as archive:
        parts = dict(sheet_targets(archive))
        for index, name in enumerate(reader.sheet_names):
            sheet = reader.load_sheet(index, header_row=None, dtypes="string",
                                      schema_sample_rows=100)
            batch, cell_errors = sheet.to_arrow_with_errors()
            errors = [(*error.position, _error_text(error.detail), False)
                      for error in (cell_errors.errors if cell_errors else [])]
            if name in parts:
                errors += _formulas_without_result(archive, parts[name])
            cells = f"sheet-{index:04d}.arrow"
            with pa.OSFile(str(work_dir / cells), "wb") as sink, pa.ipc.new_file(
                    sink, batch.schema) as writer:
                writer.write_batch(batch)
            del batch, sheet
            yield {"name": name, "cells": cells, "errors": errors}


def _error_text(detail: str) -> str:
    found = re.search(r"Error\((\w+)\)", detail)
    return EXCEL_ERRORS.get(found.group(1), found.group(1)) if found else detail[:200]


FORMULA_TAGS = (b"<f>", b"<f ", b"<f/", b":f>", b":f ")


def _has_formula(archive: zipfile.ZipFile, part: str) -> bool:
    """Whether the part holds a formula element, scanning it unpacked a megabyte at a time
    (nearly every export has none, and then the sheet is not parsed)."""
    tail = b""
    with archive.open(part) as stream:
        while chunk := stream.read(MiB):
            window = tail + chunk
            if any(tag in window for tag in FORMULA_TAGS):
                return True
            tail = chunk[-4:]
    return False


def _cell_position(ref: str | None, row: int, column: int) -> tuple[int, int]:
    found = re.fullmatch(r"\$?([A-Z]{1,3})\$?(\d+)", ref or "")
    return (int(found.group(2)), column_number(found.group(1))) if found else (row, column)


def _formulas_without_result(archive: zipfile.ZipFile,
                             part: str) -> list[tuple[int, int, str, bool]]:
    """(row, column, '=formula', True) of each formula cell with no stored value, in the
    coordinates of the sheet as calamine gives it: from its first row and column that hold a
    value (calamine skips cells without one)."""
    if not _has_formula(archive, part):
        return []
    found: list[tuple[int, int, str]] = []
    first_row = first_column = None
    row = column = 0
    rows_parent = None  # sheetData: emptied after each row, so memory holds one row
    with archive.open(part) as stream:
        for event, element in ElementTree.iterparse(stream, events=("start", "end")):
            tag = _local(element.tag)
            if event == "start":
                if tag == "sheetData":
                    rows_parent = element
                elif tag == "row":
                    row = int(element.get("r") or row + 1)
                    column = 0
                continue
            if tag != "c":
                if tag == "row" and rows_parent is not None:
                    rows_parent.clear()
                continue
            row, column = _cell_position(element.get("r"), row, column + 1)
            children = {_local(child.tag): child for child in element}
            formula, value = children.get("f"), children.get("v")
            has_value = (value is not None and bool(value.text)) or "is" in children
            if has_value:
                first_row = row if first_row is None else min(first_row, row)
                first_column = column if first_column is None else min(first_column, column)
            elif formula is not None:
                found.append((row, column, f"={formula.text or '(shared formula)'}"))
            element.clear()
    top, left = first_row or 1, first_column or 1
    return [(r - top, c - left, text, True) for r, c, text in found]


if __name__ == "__main__":
    _serve()
