"""Stage 1: find every raw file and fingerprint it (path, size, SHA-256).

Raw files are evidence: this stage only reads them. The fingerprint is what makes a build
reproducible and what `statistics.json` cites as its input.

Only regular files inside the raw folder are read (the input contract, "Files"). The folder is
walked without following any link; an entry that is not a regular file, cannot be opened, has
a name that is not UTF-8 or a path longer than the system allows is listed with the reason in
`refused` and never opened, and a file larger than the limit is not hashed (its size comes
from the walk). A file whose size, times or identity change while it is hashed, or between its
fingerprint and its reading (read.py asks `check_unchanged`), fails the build, naming it: what
would be published would not be what the fingerprint says.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import polars as pl

FORMATS: dict[str, str] = {".csv": "delimited", ".tsv": "delimited", ".txt": "delimited",
                           ".xlsx": "xlsx"}
DATASETS = ("items", "transfers")
FOLDER = "folder"
"""The format of a folder that could not be walked: it may hold logs, so under items/ or
transfers/ it counts like an unreadable file."""

RAW_FILES_SCHEMA = {
    "path": pl.String,
    "dataset": pl.String,
    "format": pl.String,
    "size_bytes": pl.Int64,
    "sha256": pl.String,
    "refused": pl.String,
    "stat_when_hashed": pl.String,
}
NOT_REGULAR = {stat.S_IFIFO: "FIFO (named pipe)", stat.S_IFCHR: "character device",
               stat.S_IFBLK: "block device", stat.S_IFSOCK: "socket"}


class RawFolderError(Exception):
    """The raw folder itself is missing or cannot be read; the message says what to do."""


class RawFileChanged(Exception):
    """A raw file changed while the build fingerprinted or read it; the message names it."""


@dataclass(frozen=True)
class Entry:
    """One entry of the raw folder: its path relative to the folder as shown (bytes that are
    not UTF-8 escaped), and either its status from the walk or why it is refused."""

    path: str
    status: os.stat_result | None = None
    refused: str | None = None
    folder: bool = False


def _is_ignored(relative: Path) -> bool:
    """Hidden files and Office lock files (`~$x.xlsx`) are not exports."""
    return any(part.startswith((".", "~$")) for part in relative.parts)


def sha256_of(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _shown(relative: str) -> str:
    """A path as text: bytes of a name that are not UTF-8 escaped (`caf\\xe9.csv`)."""
    return relative.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # os.walk decodes bad bytes to lone surrogates
        return False
    return True


BAD_NAME = ("the name is not valid UTF-8 (shown with its bytes escaped): rename it with UTF-8 "
            "characters")


def os_reason(error: OSError, what: str = "file") -> str:
    """Why a path could not be opened, and what to do."""
    reason = error.strerror or str(error)
    if error.errno == errno.ENAMETOOLONG:
        return (f"the path is longer than the system allows ({reason}): move the {what} to a "
                f"shorter path")
    if error.errno in (errno.EACCES, errno.EPERM):
        return f"the {what} cannot be opened ({reason}): give armtrace permission to read it"
    return f"the {what} cannot be opened ({reason})"


def _link_reason(path: str) -> str:
    try:
        target = f" to {_shown(os.readlink(path))}"
    except OSError:
        target = ""
    return (f"a symbolic link{target}: armtrace reads only regular files inside the raw folder "
            f"and follows no link; put the file itself in the folder")


def _file_entry(path: str, relative: str) -> Entry:
    if not _is_utf8(os.path.basename(path)):
        return Entry(relative, refused=BAD_NAME)
    try:
        status = os.lstat(path)
    except OSError as error:
        return Entry(relative, refused=os_reason(error))
    if stat.S_ISLNK(status.st_mode):
        return Entry(relative, status, _link_reason(path))
    if not stat.S_ISREG(status.st_mode):
        kind = NOT_REGULAR.get(stat.S_IFMT(status.st_mode), "special file")
        return Entry(relative, status, f"not a regular file but a {kind}: armtrace reads only "
                                       f"regular files; put the exported file itself here")
    return Entry(relative, status)


def walk_raw_folder(raw_dir: Path) -> list[Entry]:
    """Every entry under `raw_dir` but hidden ones, links not followed, in no order. Folders
    that cannot be walked (unreadable, a link, a name that is not UTF-8, too long a path) are
    entries themselves, with the reason; their contents are not looked at."""
    entries: list[Entry] = []
    root = str(raw_dir)

    def relative(path: str) -> str:
        return _shown(os.path.relpath(path, root))

    def unreadable_folder(error: OSError) -> None:
        if error.filename is None or os.path.abspath(error.filename) == root:
            raise RawFolderError(f"the raw folder {raw_dir} cannot be read: "
                                 f"{os_reason(error, 'folder')}") from None
        entries.append(Entry(relative(error.filename) + "/", folder=True,
                             refused=os_reason(error, "folder")))

    for top, dirnames, filenames in os.walk(root, onerror=unreadable_folder):
        walked = []
        for name in dirnames:
            path = os.path.join(top, name)
            if _is_ignored(Path(name)):
                continue
            if not _is_utf8(name):
                entries.append(Entry(relative(path) + "/", folder=True, refused=BAD_NAME))
            elif os.path.islink(path):
                entries.append(Entry(relative(path), refused=_link_reason(path), folder=True))
            else:
                walked.append(name)
        dirnames[:] = walked
        entries += [_file_entry(os.path.join(top, name), relative(os.path.join(top, name)))
                    for name in filenames if not _is_ignored(Path(name))]
    return entries


def state_of(status: os.stat_result) -> str:
    """What changes whenever a file's bytes do: device, inode, size, modification and change
    times (the change time cannot be set back)."""
    return (f"{status.st_dev}:{status.st_ino}:{status.st_size}:{status.st_mtime_ns}:"
            f"{status.st_ctime_ns}")


def changed_error(relative: str, when: str) -> RawFileChanged:
    return RawFileChanged(
        f"the raw file {relative} changed while the build {when} it: wait until it is "
        f"completely written (a copy or an export still running?), then build again")


def _fingerprint(raw_dir: Path, entry: Entry) -> tuple[str | None, str | None]:
    """SHA-256 of a regular file opened without following links, and why it was refused
    (opening failed) instead. RawFileChanged when it changed as it was hashed."""
    assert entry.status is not None
    try:
        handle = os.open(raw_dir / entry.path,
                         os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        if error.errno == errno.ELOOP:  # replaced by a link since the walk
            raise changed_error(entry.path, "fingerprinted") from None
        return None, os_reason(error)
    with os.fdopen(handle, "rb") as file:
        sha256 = hashlib.file_digest(file, "sha256").hexdigest()
        after = os.fstat(handle)
    if state_of(after) != state_of(entry.status):
        raise changed_error(entry.path, "fingerprinted")
    return sha256, None


def discover_raw_files(raw_dir: Path) -> pl.DataFrame:
    """One row per raw file under `raw_dir`, sorted by path (the contract's "path order").

    `format` is `delimited`, `xlsx`, `unsupported` or `folder` (a folder that could not be
    walked); `dataset` is the top folder (`items`, `transfers`) or `other` for files outside
    both. `refused` says why an entry is not read; `sha256` is NULL for refused files and
    for files over the size limit (which read.py reports); `stat_when_hashed` is the file's
    state (state_of) when hashed.
    """
    if not raw_dir.is_dir():
        raise RawFolderError(
            f"raw folder {raw_dir} does not exist: pass --raw DIR or set ARMTRACE_RAW_DIR")
    from pipeline.stages.read import max_file_bytes  # read.py imports this module

    limit = max_file_bytes()
    entries = sorted(walk_raw_folder(raw_dir), key=lambda e: e.path.encode())
    hashed = [e for e in entries if e.refused is None and e.status.st_size <= limit]
    # two files at a time: hashlib releases the GIL, and the build hashes every raw file
    # twice (the CLI's manifest, then this stage), 1.6 GB at ten million rows
    with ThreadPoolExecutor(max_workers=2) as threads:
        fingerprints = dict(zip((e.path for e in hashed),
                                threads.map(lambda e: _fingerprint(raw_dir, e), hashed),
                                strict=True))
    rows = []
    for entry in entries:
        sha256, refused = fingerprints.get(entry.path, (None, entry.refused))
        parts = entry.path.split("/")
        top = parts[0] if len(parts) > 1 else ""
        suffix = os.path.splitext(entry.path.rstrip("/"))[1].lower()
        rows.append({
            "path": entry.path,
            "dataset": top if top in DATASETS else "other",
            "format": FOLDER if entry.folder else FORMATS.get(suffix, "unsupported"),
            "size_bytes": entry.status.st_size if _is_regular(entry) else None,
            "sha256": sha256,
            "refused": refused,
            "stat_when_hashed": state_of(entry.status) if entry.status else None,
        })
    return pl.DataFrame(rows, schema=RAW_FILES_SCHEMA)


def _is_regular(entry: Entry) -> bool:
    return entry.status is not None and stat.S_ISREG(entry.status.st_mode)


def check_unchanged(raw_dir: Path, relative: str, state: str | None) -> None:
    """RawFileChanged unless the file at `relative` is still as it was fingerprinted (its
    `stat_when_hashed`): called once it has been read."""
    try:
        now = state_of(os.lstat(raw_dir / relative))
    except OSError:
        now = None
    if state is not None and now != state:
        raise changed_error(relative, "read")


def entry_listing(root: Path) -> list[tuple[str, int, int]]:
    """(path, size, modification time) of every entry under `root`, links not followed, folders
    that cannot be walked included: cheap, and it changes whenever a file is added, removed,
    replaced or edited. Empty when `root` is not a folder."""
    if not root.is_dir():
        return []
    try:
        entries = walk_raw_folder(root)
    except RawFolderError as error:
        return [(str(error), -1, -1)]
    return sorted((entry.path, entry.status.st_size if entry.status else -1,
                   entry.status.st_mtime_ns if entry.status else -1) for entry in entries)
