"""The curated and reports folders are armtrace's alone.

armtrace replaces what it publishes: the database by a rename, the reports folder by a swap
that removes the folder it replaces. So before a build writes anything it checks that both
folders are its own (check_output_folders):

- neither is, holds or lies inside the raw, reference or corrections folder, the other output
  folder, or the folders armtrace keeps beside the reports folder while it publishes;
- each is new, empty, or marked as armtrace's and holding nothing armtrace did not put there.

The mark is a file, MARKER. The curated folder gets it the first time a build claims the
folder (claim_output_folders, before the lock file, the first thing written there); every
reports folder is published with one that lists the files published in it, and replacing a
reports folder removes those files and nothing else (remove_published).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

from pipeline.lock import LOCK_NAME
from pipeline.paths import DATABASE_NAME, Paths

MARKER = ".armtrace-outputs"
"""In each output folder: JSON naming the folder's kind and (reports) the files published."""
TIMINGS_FILE = "build-timings.json"
"""Written into the reports folder by `armtrace build` after the swap: armtrace's, not listed."""
REPORTS_OUTPUT = "reports"
"""The prefix of report files among a manifest's `outputs` (`reports/index.html`)."""
PLACEHOLDER = ".gitkeep"
"""An empty file that keeps an empty folder in git: a curated folder holding only it is new."""
SHOWN_NAMES = 3


class Refused(Exception):
    """An output folder armtrace will not write to; nothing was touched. The message says why
    and what to do."""


class BrokenPublishedState(Exception):
    """The published set (database, manifest or publishing journal) cannot be read or trusted;
    the message says what is wrong and that `armtrace build --force` replaces it."""


class CannotWrite(Exception):
    """A folder armtrace must write to is not writable (permissions, read-only or full file
    system); the message names it and what to do."""


def cannot_write(error: OSError, folder: Path, flag: str) -> CannotWrite:
    reason = error.strerror or type(error).__name__
    return CannotWrite(f"cannot write in {folder} ({reason}): make it writable, or choose "
                       f"another folder with {flag}")


def _flag(kind: str) -> str:
    return f"--{kind} (or $ARMTRACE_{kind.upper()}_DIR)"


def _relation(output: Path, other: Path) -> str | None:
    if output == other:
        return "is"
    if other.is_relative_to(output):
        return "holds"
    if output.is_relative_to(other):
        return "lies inside"
    return None


def check_output_folders(paths: Paths) -> None:
    """Raise Refused, touching nothing, unless the curated and reports folders are armtrace's
    alone (see the module's docstring)."""
    outputs = {"curated": paths.curated_dir, "reports": paths.reports_dir}
    inputs = {"raw": paths.raw_dir, "reference": paths.reference_dir,
              "corrections": paths.corrections_dir}
    pairs = [(kind, other_kind, "armtrace replaces what it publishes in its output folders "
                                "and never writes to its inputs")
             for kind in outputs for other_kind in inputs]
    pairs.append(("curated", "reports", "each output folder is replaced on its own, so the "
                                        "two must be apart"))
    folders = {**inputs, **outputs}
    for kind, other_kind, why in pairs:  # inputs first: what is at risk is named first
        relation = _relation(folders[kind], folders[other_kind])
        if relation:
            raise Refused(f"the {kind} folder {folders[kind]} {relation} the {other_kind} "
                          f"folder {folders[other_kind]}: {why}; choose another folder with "
                          f"{_flag(kind)}")
    _check_reports_siblings(paths, folders)
    _check_curated_contents(paths.curated_dir)
    _check_reports_contents(paths.reports_dir)


def _check_reports_siblings(paths: Paths, folders: dict[str, Path]) -> None:
    """The staging, retired and lock entries beside the reports folder are armtrace's: no
    other folder may be one of them or lie inside one."""
    beside = paths.reports_dir.parent
    for kind, folder in folders.items():
        if kind == "reports" or folder == beside or not folder.is_relative_to(beside):
            continue
        name = folder.relative_to(beside).parts[0]
        if name.startswith(paths.reports_siblings_prefix):
            raise Refused(
                f"the {kind} folder {folder} is named like the entries armtrace keeps beside "
                f"the reports folder while it publishes ({beside / name}), which it deletes: "
                f"rename it, or choose another folder with {_flag('reports')}")


def _names(folder: Path) -> list[str] | None:
    """The entries of `folder`, or None when it does not exist; Refused when it is not a
    folder."""
    if not os.path.lexists(folder):
        return None
    if not folder.is_dir():
        raise Refused(f"{folder} is a file, not a folder: choose a folder")
    return sorted(os.listdir(folder))


def _listing(names: list[str] | set[str]) -> str:
    shown = sorted(names)[:SHOWN_NAMES]
    more = len(names) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more else "")


def _read_marker(folder: Path, kind: str) -> dict:
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
        if marker.get("armtrace") != kind or not isinstance(marker.get("published"), list):
            raise ValueError("not an armtrace marker of this kind of folder")
    except (OSError, ValueError, AttributeError) as error:
        raise Refused(
            f"the {kind} folder {folder} has a damaged armtrace marker ({MARKER}: {error}), "
            f"so armtrace cannot tell what it published there: check the folder's contents, "
            f"then delete it or choose another folder with {_flag(kind)}") from None
    return marker


CURATED_OWN = {MARKER, PLACEHOLDER, LOCK_NAME, DATABASE_NAME, ".work",
               f".{DATABASE_NAME}.staged", f".{DATABASE_NAME}.publishing",
               f".{DATABASE_NAME}.publishing.partial"}
"""Every name armtrace writes in the curated folder (Paths.database, .work_dir,
.staged_database, .journal and its temporary name, the lock, the marker)."""


def _check_curated_contents(folder: Path) -> None:
    names = _names(folder)
    if not names or set(names) <= {PLACEHOLDER, LOCK_NAME}:
        return  # new or empty (a lock file alone is an earlier armtrace's)
    if MARKER not in names:
        raise Refused(
            f"the curated folder {folder} holds {_listing(names)} and no armtrace marker "
            f"({MARKER}), so armtrace did not publish there: choose a new or empty folder "
            f"with {_flag('curated')} (a folder an earlier armtrace built: `make clean`, "
            f"or delete its armtrace.duckdb, .work and .armtrace.lock)")
    _read_marker(folder, "curated")
    foreign = set(names) - CURATED_OWN
    if foreign:
        raise Refused(
            f"the curated folder {folder} holds {_listing(foreign)}, which armtrace did not "
            f"put there: move it elsewhere, or choose another folder with {_flag('curated')}")


def _tree(folder: Path) -> tuple[set[str], set[str]]:
    """Relative paths of every entry under `folder` that is not a folder (links included),
    and of every folder, without following links."""
    files: set[str] = set()
    folders: set[str] = set()

    def fail(error: OSError) -> None:
        raise Refused(f"cannot list {error.filename} ({error.strerror}): make it readable")

    for top, dirnames, filenames in os.walk(folder, onerror=fail):
        relative = Path(top).relative_to(folder)
        for name in list(dirnames):
            if os.path.islink(os.path.join(top, name)):  # a link is an entry, not a folder
                dirnames.remove(name)
                filenames.append(name)
            else:
                folders.add((relative / name).as_posix())
        files.update((relative / name).as_posix() for name in filenames)
    return files, folders


def published_files(folder: Path, kind: str) -> list[str]:
    """The files armtrace published in `folder` (its marker's list); [] when unmarked."""
    if not (folder / MARKER).exists():
        return []
    return [str(name) for name in _read_marker(folder, kind)["published"]]


def _parents(files: list[str]) -> set[str]:
    return {parent.as_posix() for name in files for parent in Path(name).parents
            if parent != Path(".")}


def _check_reports_contents(folder: Path) -> None:
    names = _names(folder)
    if not names:
        return  # new or empty
    if MARKER not in names:
        raise Refused(
            f"the reports folder {folder} holds {_listing(names)} and no armtrace marker "
            f"({MARKER}), so armtrace did not publish there; publishing would replace the "
            f"whole folder: choose a new or empty folder with {_flag('reports')} (a folder an "
            f"earlier armtrace published: `make clean`, or empty it)")
    listed = published_files(folder, "reports")
    files, folders = _tree(folder)
    foreign = (files - set(listed) - {MARKER, TIMINGS_FILE}) | (folders - _parents(listed))
    if foreign:
        raise Refused(
            f"the reports folder {folder} holds {_listing(foreign)}, which armtrace did not "
            f"publish there, and publishing replaces the whole folder: move it elsewhere, or "
            f"choose another folder with {_flag('reports')}")


def claim_output_folders(paths: Paths) -> None:
    """check_output_folders, then mark a new or empty curated folder as armtrace's (the
    reports folder gets its marker when it is published). CannotWrite when it cannot."""
    check_output_folders(paths)
    if (paths.curated_dir / MARKER).exists():
        return
    try:
        paths.curated_dir.mkdir(parents=True, exist_ok=True)
        write_marker(paths.curated_dir, "curated", [DATABASE_NAME])
    except OSError as error:
        raise cannot_write(error, paths.curated_dir, _flag("curated")) from None


def write_marker(folder: Path, kind: str, published: list[str]) -> None:
    text = json.dumps({
        "armtrace": kind,
        "about": "armtrace publishes into this folder and replaces what it published here; "
                 "it refuses a folder holding anything else",
        "published": sorted(published)}, indent=2)
    (folder / MARKER).write_text(text + "\n", encoding="utf-8")


def remove_published(folder: Path) -> list[str]:
    """Remove what armtrace published in the reports folder `folder` (a folder retired by a
    swap): the files its marker lists, the timings, the folders they were in once empty,
    then the marker and `folder`. Returns what is left (files armtrace did not publish),
    in which case `folder` and its marker stay."""
    listed = published_files(folder, "reports")
    for name in [*listed, TIMINGS_FILE]:
        path = folder / name
        if path.is_symlink() or path.is_file():
            path.unlink()
    for parent in sorted(_parents(listed), key=lambda p: p.count("/"), reverse=True):
        with contextlib.suppress(OSError):  # not empty (holds what armtrace did not publish)
            (folder / parent).rmdir()
    files, folders = _tree(folder)
    left = sorted(files - {MARKER}) or sorted(folders)  # a folder holding nothing: by name
    if not left:
        (folder / MARKER).unlink(missing_ok=True)
        folder.rmdir()
    return left


def probe_writable(folder: Path, flag: str) -> None:
    """CannotWrite unless a file can be created in `folder` (an unnamed temporary file: nothing
    is left behind)."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise cannot_write(error, folder, flag) from None
