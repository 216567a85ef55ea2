"""Operator mistakes: the commands used as a careless, tired or hostile operator would, in ONE
table (MISTAKES), next to the hostile-input table (tests/test_hostile_input.py).

Each case says what the operator did, the exit code, the one line that must say what failed
and what to do, and what must hold afterwards: by default, that nothing in the case's folders
changed (lock files aside). Each has its near miss beside it. The command cases run on a copy
of the build every test process makes already (conftest's dirty_build); the raw-folder cases
(RawEntry) all share one build of a raw folder holding every one of them, run without root's
file permissions so that an unreadable file is unreadable.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from pipeline.cli import main
from pipeline.fingerprint import MANIFEST_FILE, published_manifest, rebuild_reasons
from pipeline.outputs import MARKER, write_marker
from pipeline.paths import REPO_ROOT, Paths
from pipeline.stages.discover import RawFileChanged, discover_raw_files
from pipeline.stages.publish import swap_in_reports
from pipeline.stages.read import ENV_MAX_FILE_BYTES, read_dataset
from tests.conftest import TODAY, write_log

COMMAND = str(Path(sys.executable).parent / "armtrace")
NO_ROOT_PERMISSIONS = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search",
                       "--inh-caps", "-dac_override,-dac_read_search"]


def unprivileged() -> list[str] | None:
    """The prefix that runs a command without root's permission to read any file: nothing when
    not root, setpriv where it is; None when neither."""
    if os.geteuid() != 0:
        return []
    return NO_ROOT_PERMISSIONS if shutil.which("setpriv") else None


def command_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}


@dataclass(frozen=True)
class Site:
    """A copy of one published build: raw, reference and corrections folders, curated, reports;
    `items` in its database."""

    root: Path
    items: int

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    @property
    def curated(self) -> Path:
        return self.root / "curated"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def reference(self) -> Path:
        return self.root / "reference"

    @property
    def corrections(self) -> Path:
        return self.root / "corrections"

    def build(self, *flags: str, raw: Path | None = None, curated: Path | None = None,
              reports: Path | None = None, reference: Path | None = None,
              corrections: Path | None = None) -> list[str]:
        return ["build", "--raw", str(raw or self.raw), "--curated", str(curated or self.curated),
                "--reports", str(reports or self.reports),
                "--reference", str(reference or self.reference),
                "--corrections", str(corrections or self.corrections), "--today", TODAY, *flags]

    def sql(self, query: str) -> list[str]:
        return ["sql", query, "--curated", str(self.curated), "--format", "csv"]


def snapshot(root: Path) -> dict[str, tuple[str, ...]]:
    """Every entry under `root` (links not followed) and what it holds; the lock files, which
    every build rewrites, left out."""
    found: dict[str, tuple[str, ...]] = {}
    for top, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(top, name)
            relative = path.relative_to(root).as_posix()
            if name.endswith(".lock"):
                continue
            if path.is_symlink():
                found[relative] = ("link", os.readlink(path))
            elif path.is_dir():
                found[relative] = ("folder",)
            else:
                found[relative] = ("file", hashlib.sha256(path.read_bytes()).hexdigest())
    return found


def published_fingerprints(site: Site) -> tuple[str, str]:
    """The database's and the reports' build fingerprints: equal when they are one set."""
    with duckdb.connect(str(site.curated / "armtrace.duckdb"), read_only=True) as con:
        ((database,),) = con.sql("SELECT value FROM build_manifest "
                                 "WHERE component = 'build/fingerprint'").fetchall()
    reports = json.loads((site.reports / MANIFEST_FILE).read_text())["fingerprint"]
    return database, reports


def one_fresh_set(site: Site) -> None:
    database, reports = published_fingerprints(site)
    assert database == reports
    with duckdb.connect(str(site.curated / "armtrace.duckdb"), read_only=True) as con:
        assert con.sql("SELECT count(*) FROM items").fetchall() == [(site.items,)]


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str,
               build: Callable[[Path], None]) -> Path:
    """`build(folder)` run once for the whole test session, whichever pytest-xdist worker
    asks first; the others wait for it and use the same folder (which no test changes)."""
    shared = tmp_path_factory.getbasetemp()
    if shared.name.startswith("popen-gw"):  # one base folder per worker: share their parent
        shared = shared.parent
    folder = shared / name
    with (shared / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (shared / f"{name}.done").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            (shared / f"{name}.done").touch()
    return folder


@pytest.fixture
def site(dirty_build: Path, tmp_path: Path) -> Site:
    """A copy of the dirty folder's build, with its own copy of the reference data it used and
    an empty corrections folder (a build's manifest names their files, not their folders)."""
    root = tmp_path / "site"
    shutil.copytree(dirty_build.parent, root, symlinks=True)
    shutil.copytree(REPO_ROOT / "data" / "reference", root / "reference")
    (root / "corrections").mkdir()
    with duckdb.connect(str(root / "curated" / "armtrace.duckdb"), read_only=True) as con:
        ((items,),) = con.sql("SELECT count(*) FROM items").fetchall()
    return Site(root, items)


# --- what the cases do -----------------------------------------------------------------------

def foreign_folder(site: Site) -> Path:
    folder = site.root / "thesis"
    folder.mkdir()
    (folder / "chapter-1.docx").write_text("months of work")
    return folder


def with_file(folder: Callable[[Site], Path], name: str) -> Callable[[Site], Path]:
    def add(site: Site) -> Path:
        (folder(site) / name).write_text("the operator's own file")
        return folder(site)
    return add


def journal(site: Site, text: str) -> None:
    (site.curated / ".armtrace.duckdb.publishing").write_text(text)


def journal_moving_raw(site: Site) -> None:
    journal(site, json.dumps({
        "database": [str(site.raw / "items"), str(site.root / "elsewhere")],
        "reports": [str(site.raw), str(site.root / "gone")]}))


def truncate(path: Path, size: int) -> None:
    with path.open("r+b") as handle:
        handle.truncate(size)


def then_published_set_unchanged(site: Site, before: dict[str, tuple[str, ...]]) -> None:
    """The previously published set is whole and untouched (work files may have changed)."""
    after = snapshot(site.root)
    published = [k for k in before if k == "curated/armtrace.duckdb" or k.startswith("reports/")]
    assert {k: after.get(k) for k in published} == {k: before[k] for k in published}
    assert not (site.curated / ".armtrace.duckdb.publishing").exists()


def then_rebuilt(site: Site, _: dict) -> None:
    one_fresh_set(site)


def then_journal_discarded(site: Site, before: dict[str, tuple[str, ...]]) -> None:
    after = snapshot(site.root)
    assert {k: v for k, v in after.items() if k.startswith("raw")} == {
        k: v for k, v in before.items() if k.startswith("raw")}
    assert not (site.root / "elsewhere").exists() and not (site.root / "gone").exists()
    assert not (site.curated / ".armtrace.duckdb.publishing").exists()
    one_fresh_set(site)


@dataclass(frozen=True)
class Mistake:
    id: str
    does: Callable[[Site], list[str]]
    """Sets the mistake up in the site and returns the command's arguments."""
    code: int
    says: str
    """In the last line of standard error (standard output for a query that works)."""
    then: Callable[[Site, dict], None] | None = None
    """What must hold afterwards, given the snapshot taken before the command; None: the
    site's folders are as they were."""
    lines: int | None = 1
    """Lines on standard error; None: a build that printed its progress first."""
    run: str = "main"
    """main: in this process; unprivileged: the installed command without root's file
    permissions; signal: the installed command, sent `signal` once `after` is printed."""
    signal: int | None = None
    after: str = ""
    holding: Callable[[Site], Paths] | None = None
    """Another process holds the build lock of these folders while the command runs."""


def _do(setup: Callable[[Site], object], args: Callable[[Site], list[str]]
        ) -> Callable[[Site], list[str]]:
    def does(site: Site) -> list[str]:
        setup(site)
        return args(site)
    return does


def nothing(_: Site) -> None:
    return None


REFUSED = "armtrace build: refused: "
MISTAKES: list[Mistake | RawEntry] = []  # filled below; RawEntry rows at the end of the module

MISTAKES += [
    # --- the output folders are armtrace's alone --------------------------------------------
    Mistake("raw_folder_as_reports", lambda s: s.build(reports=s.raw), 77,
            "the reports folder {raw} is the raw folder"),
    Mistake("parent_of_raw_as_reports", lambda s: s.build(reports=s.root), 77,
            "the reports folder {root} holds the raw folder {raw}"),
    Mistake("one_folder_for_curated_and_reports",
            lambda s: s.build(curated=s.reports, reports=s.reports), 77,
            "the curated folder {reports} is the reports folder"),
    Mistake("curated_inside_raw", lambda s: s.build(curated=s.raw / "curated"), 77,
            "the curated folder {raw}/curated lies inside the raw folder"),
    Mistake("reports_inside_curated", lambda s: s.build(reports=s.curated / "reports"), 77,
            "the curated folder {curated} holds the reports folder"),
    Mistake("reference_as_curated", lambda s: s.build(curated=s.reference), 77,
            "the curated folder {reference} is the reference folder"),
    Mistake("corrections_as_reports", lambda s: s.build(reports=s.corrections), 77,
            "the reports folder {corrections} is the corrections folder"),
    Mistake("raw_named_like_the_reports_staging",
            lambda s: s.build(raw=s.root / ".reports.building"), 77,
            "is named like the entries armtrace keeps beside the reports folder"),
    Mistake("a_folder_of_the_operators_as_reports",
            lambda s: s.build(reports=foreign_folder(s)), 77,
            "the reports folder {root}/thesis holds chapter-1.docx and no armtrace marker"),
    Mistake("a_folder_of_the_operators_as_curated",
            lambda s: s.build(curated=foreign_folder(s)), 77,
            "the curated folder {root}/thesis holds chapter-1.docx and no armtrace marker"),
    Mistake("a_file_as_reports",
            lambda s: s.build(reports=with_file(lambda s: s.root, "notes.txt")(s) / "notes.txt"),
            77, "{root}/notes.txt is a file, not a folder"),
    Mistake("a_file_added_to_the_published_reports",
            lambda s: s.build(reports=with_file(lambda s: s.reports / "tables", "mine.csv")(s)
                              .parent), 77,
            "the reports folder {reports} holds tables/mine.csv, which armtrace did not publish"),
    Mistake("a_file_added_to_the_curated_folder",
            lambda s: s.build(curated=with_file(lambda s: s.curated, "mine.txt")(s)), 77,
            "the curated folder {curated} holds mine.txt, which armtrace did not put there"),
    Mistake("damaged_reports_marker",
            _do(lambda s: (s.reports / MARKER).write_text("{"), lambda s: s.build("--force")), 77,
            "has a damaged armtrace marker"),
    # near misses: armtrace's own files, and new or empty folders
    Mistake("timings_edited_in_the_published_reports",
            _do(lambda s: (s.reports / "build-timings.json").write_text("{}"), Site.build), 0,
            "up to date"),

    # --- `armtrace sql` reads the curated database and nothing else --------------------------
    Mistake("sql_copy_over_the_database",
            lambda s: s.sql(f"COPY (SELECT 'x' AS a) TO '{s.curated}/armtrace.duckdb' "
                            "(FORMAT csv)"), 1, "refused COPY"),
    Mistake("sql_copy_over_the_report",
            lambda s: s.sql(f"COPY (SELECT 'x' AS a) TO '{s.reports}/index.html'"), 1,
            "refused COPY"),
    Mistake("sql_attach_a_new_database",
            lambda s: s.sql(f"ATTACH '{s.root}/other.db' (READ_WRITE)"), 1, "refused ATTACH"),
    Mistake("sql_read_text_outside", lambda s: s.sql("SELECT * FROM read_text('/etc/shadow')"),
            1, 'refused SELECT: armtrace sql reads the curated database and nothing else '
               '(Permission Error: Cannot access file "/etc/shadow"'),
    Mistake("sql_read_csv_outside", lambda s: s.sql("SELECT * FROM read_csv('/etc/passwd')"),
            1, 'Cannot access file "/etc/passwd"'),
    Mistake("sql_read_a_raw_log",
            lambda s: s.sql(f"SELECT * FROM '{s.raw}/items/team-a/2016-01-export.csv'"), 1,
            "refused SELECT"),
    Mistake("sql_glob_the_disk", lambda s: s.sql("SELECT * FROM glob('/etc/*')"), 1,
            "refused SELECT"),
    Mistake("sql_install_an_extension", lambda s: s.sql("INSTALL httpfs"), 1,
            "refused INSTALL"),
    Mistake("sql_load_an_extension", lambda s: s.sql("LOAD httpfs"), 1, "refused LOAD"),
    Mistake("sql_set_a_setting",
            lambda s: s.sql("SET enable_external_access = true"), 1,
            "refused SET", ),
    Mistake("sql_pragma_that_writes",
            lambda s: s.sql(f"PRAGMA profiling_output = '{s.root}/profile.json'"), 1,
            "refused PRAGMA"),
    Mistake("sql_export_the_database",
            lambda s: s.sql(f"EXPORT DATABASE '{s.root}/export'"), 1, "refused EXPORT"),
    Mistake("sql_delete_items", lambda s: s.sql("DELETE FROM items"), 1,
            "refused DELETE: armtrace sql reads the curated database and nothing else "
            "(Invalid Input Error: Cannot execute statement of type \"DELETE\""),
    Mistake("sql_refused_after_an_allowed_statement",
            lambda s: s.sql(f"SELECT 1; COPY items TO '{s.root}/items.csv'"), 1,
            "refused COPY"),
    # near misses: reading the database, an in-memory table, a pragma that only reads
    Mistake("sql_select", lambda s: s.sql("SELECT count(*) AS n FROM items"), 0, "n\n{items}\n",
            lines=0),
    Mistake("sql_pragma_that_reads",
            lambda s: s.sql("SELECT name FROM pragma_table_info('items') LIMIT 1"), 0,
            "record_id", lines=0),
    Mistake("sql_temporary_table",
            lambda s: s.sql("CREATE TEMP TABLE t AS SELECT 7 AS x; SELECT x FROM t"), 0,
            "x\n7\n", lines=0),

    # --- a broken published state is named, and --force replaces it -------------------------
    Mistake("damaged_manifest",
            _do(lambda s: (s.reports / MANIFEST_FILE).write_text("not json"), Site.build), 65,
            "the published manifest {reports}/build-manifest.json is damaged"),
    Mistake("garbage_journal", _do(lambda s: journal(s, "\x00garbage"), Site.build), 65,
            "the publishing journal {curated}/.armtrace.duckdb.publishing is damaged"),
    Mistake("journal_moving_the_raw_folder", _do(journal_moving_raw, Site.build), 65,
            "names paths that are not this curated and reports folder's own staged outputs"),
    # one build repairs both (a build costs seconds): the journal is discarded unread, the
    # manifest replaced
    Mistake("damaged_manifest_and_journal_moving_the_raw_folder_forced",
            _do(lambda s: ((s.reports / MANIFEST_FILE).write_text("not json"),
                           journal_moving_raw(s)), lambda s: s.build("--force")), 0,
            "replacing a broken published set (--force): the published manifest",
            then_journal_discarded, lines=None),
    Mistake("sql_on_a_truncated_database",
            _do(lambda s: truncate(s.curated / "armtrace.duckdb", 1000),
                lambda s: s.sql("SELECT 1")), 65,
            "the published database {curated}/armtrace.duckdb cannot be read"),

    # --- published outputs are verified: a changed one is rebuilt, and named -----------------
    Mistake("truncated_database",
            _do(lambda s: truncate(s.curated / "armtrace.duckdb", 1000), Site.build), 0,
            "because changed: output armtrace.duckdb (not as published)", then_rebuilt,
            lines=None),
    # near miss: nothing changed
    Mistake("unchanged", Site.build, 0, "up to date"),

    # --- one build per output ----------------------------------------------------------------
    Mistake("second_build_of_the_same_reports_folder", Site.build, 75,
            "another build is writing to {reports} (pid ",
            holding=lambda s: Paths.resolve(s.raw, s.root / "other-curated", s.reports)),
    Mistake("second_build_of_the_same_curated_folder", Site.build, 75,
            "another build is writing to {curated} (pid ",
            holding=lambda s: Paths.resolve(s.raw, s.curated, s.root / "other-reports")),
    Mistake("a_build_of_other_folders_runs_alongside", Site.build, 0, "up to date",
            holding=lambda s: Paths.resolve(s.raw, s.root / "c2", s.root / "r2")),

    # --- no traceback: flags, permissions, Ctrl-C and SIGTERM --------------------------------
    Mistake("today_yesterday", lambda s: s.build("--today", "yesterday"), 2,
            "armtrace build: argument --today: not an ISO date (YYYY-MM-DD): 'yesterday' "
            "(see armtrace build --help)"),
    Mistake("wait_not_a_number", lambda s: s.build("--wait", "nan"), 2,
            "argument --wait: not a number of seconds (0 or more): 'nan'"),
    Mistake("a_flag_that_does_not_exist", lambda s: s.build("--delete-everything"), 2,
            "armtrace: unrecognized arguments: --delete-everything"),
    Mistake("dictionary_written_into_the_curated_folder",
            lambda s: ["dictionary", "--curated", str(s.curated), "--out",
                       str(s.curated / "dictionary.md")], 77,
            "lies inside the curated folder {curated}, where armtrace writes nothing but"),
    Mistake("read_only_curated_folder",
            _do(lambda s: s.curated.chmod(0o555), lambda s: s.build("--force")), 74,
            "armtrace build: cannot write in {curated} (Permission denied): make it writable",
            run="unprivileged"),
    # near miss: a read-only curated folder that is up to date needs no writing
    Mistake("read_only_curated_folder_up_to_date",
            _do(lambda s: s.curated.chmod(0o555), Site.build), 0, "up to date",
            run="unprivileged", lines=None),
    Mistake("ctrl_c_while_starting", lambda s: s.build("--force"), 130,
            "armtrace: stopped by SIGINT", then_published_set_unchanged, lines=None,
            run="signal", signal=signal.SIGINT, after="building "),
    Mistake("sigterm_while_starting", lambda s: s.build("--force"), 143,
            "armtrace: stopped by SIGTERM", then_published_set_unchanged, lines=None,
            run="signal", signal=signal.SIGTERM, after="building "),
    Mistake("ctrl_c_during_the_run", lambda s: s.build("--force"), 130,
            "armtrace build: stopped by Ctrl-C or SIGTERM during the run",
            then_published_set_unchanged, lines=None, run="signal", signal=signal.SIGINT,
            after="  discover "),
]

HOLD_LOCK = """
import sys
from pipeline.lock import build_lock
from pipeline.paths import Paths
with build_lock(Paths.resolve(*sys.argv[1:4])):
    print("held", flush=True)
    sys.stdin.read()
"""


@contextmanager
def lock_held(paths: Paths | None) -> Iterator[None]:
    """Another process holding the build lock of `paths` (this process's locks are
    re-entrant)."""
    if paths is None:
        yield
        return
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(paths.raw_dir),
                               str(paths.curated_dir), str(paths.reports_dir)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        yield
    finally:
        holder.communicate(timeout=60)


def _signalled(argv: list[str], signal_number: int, after: str) -> tuple[int, str, str]:
    """The installed command in a session of its own: once `after` is on its standard error,
    the signal goes to the whole process group, as a terminal's Ctrl-C does (SIGTERM to the
    command alone, as `kill` does)."""
    process = subprocess.Popen([COMMAND, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=command_env(), start_new_session=True)
    assert process.stderr is not None
    seen = []
    for line in process.stderr:
        seen.append(line)
        if after in line:
            break
    else:
        raise AssertionError(f"ended before printing {after!r}: {''.join(seen)}")
    if signal_number == signal.SIGINT:
        os.killpg(process.pid, signal_number)
    else:
        process.send_signal(signal_number)
    out, err = process.communicate(timeout=300)
    return process.returncode, out, "".join(seen) + err


def run_mistake(mistake: Mistake, argv: list[str],
                capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    if mistake.run == "main":
        capsys.readouterr()
        try:
            code = main(argv)
        except SystemExit as exit:  # a wrong flag: argparse's way out (pipeline/command.py)
            code = exit.code
        captured = capsys.readouterr()
        return code, captured.out, captured.err
    if mistake.run == "signal":
        assert mistake.signal is not None
        return _signalled(argv, mistake.signal, mistake.after)
    prefix = unprivileged()
    if prefix is None:
        pytest.skip("running as root without setpriv: root may write anywhere")
    done = subprocess.run([*prefix, COMMAND, *argv], capture_output=True, text=True,
                          env=command_env(), timeout=300)
    return done.returncode, done.stdout, done.stderr


COMMAND_MISTAKES = [m for m in MISTAKES if isinstance(m, Mistake)]


@pytest.mark.parametrize("mistake", COMMAND_MISTAKES, ids=[m.id for m in COMMAND_MISTAKES])
def test_an_operator_mistake_is_refused_or_survived(
        site: Site, mistake: Mistake, capsys: pytest.CaptureFixture[str]) -> None:
    argv = mistake.does(site)
    try:
        with lock_held(mistake.holding(site) if mistake.holding else None):
            before = snapshot(site.root)
            code, out, err = run_mistake(mistake, argv, capsys)
    finally:
        site.curated.chmod(0o755)
    assert "Traceback" not in out + err
    assert code == mistake.code, err
    lines = err.strip().splitlines()
    says = mistake.says.format(**{k: getattr(site, k) for k in (
        "root", "raw", "curated", "reports", "reference", "corrections", "items")})
    if mistake.lines == 0:
        assert err == "" and says in out
    elif mistake.code == 0:
        assert says in err
    else:
        assert says in lines[-1]
    if mistake.lines:
        assert len(lines) == mistake.lines, err
    if mistake.then is None:
        assert snapshot(site.root) == before
    else:
        mistake.then(site, before)


# --- the raw folder is walked as the input contract says ----------------------------------

SECRET = "SECRET-OUTSIDE-RAW"
LIMIT = 4096  # $ARMTRACE_MAX_FILE_BYTES for the hostile raw folder's build


@dataclass(frozen=True)
class RawEntry:
    """An entry of a raw folder: `make(raw, outside)` creates it and returns its path as
    source_files shows it. `problem` is in source_files.problem (the entry is never opened and
    counts as one quarantined row); None: a near miss, read as usual."""

    id: str
    make: Callable[[Path, Path], str]
    problem: str | None
    unprivileged: bool = False  # only without root's file permissions


def _log(path: Path, record_id: str, pad: int = 0) -> str:
    write_log(path, [{"record_id": record_id, "documented_on": "2016-11-03",
                      "documented_in": "Iraq", "site": f"Site {record_id}",
                      "category": "cartridge", "notes": "n" * pad}])
    return path.as_posix()


def _relative(raw: Path, path: Path) -> str:
    return path.relative_to(raw).as_posix()


def _link(raw: Path, name: str, target: str) -> str:
    (raw / "items" / name).symlink_to(target)
    return f"items/{name}"


def _inside_link(raw: Path, _: Path) -> str:
    _log(raw / "items" / "target.csv", "R-TARGET")
    return _link(raw, "inside-link.csv", "target.csv")


def _fifo(raw: Path, _: Path) -> str:
    os.mkfifo(raw / "items" / "pipe.csv")
    return "items/pipe.csv"


def _unreadable_file(raw: Path, _: Path) -> str:
    path = raw / "items" / "locked.csv"
    _log(path, "R-LOCKED")
    path.chmod(0)
    return "items/locked.csv"


def _unreadable_folder(raw: Path, _: Path) -> str:
    folder = raw / "items" / "locked-team"
    _log(folder / "log.csv", "R-LOCKED-TEAM")
    folder.chmod(0)
    return "items/locked-team/"


def _undecodable_name(raw: Path, _: Path) -> str:
    name = os.fsdecode(b"caf\xe9.csv")  # Latin-1 bytes, not UTF-8
    _log(raw / "items" / name, "R-LATIN1")
    return "items/caf\\xe9.csv"


def _too_long(raw: Path, _: Path) -> str:
    """Folders nested past the system's path limit (4096 bytes on Linux), made relative to
    each other, with a log at the bottom."""
    (raw / "items" / "deep").mkdir()
    name = "d" * 250
    handle = os.open(raw / "items" / "deep", os.O_RDONLY)
    shown = "items/deep"
    while len(str(raw)) + len(shown) < 4200:
        os.mkdir(name, dir_fd=handle)
        inner = os.open(name, os.O_RDONLY, dir_fd=handle)
        os.close(handle)
        handle, shown = inner, f"{shown}/{name}"
    log = os.open("log.csv", os.O_WRONLY | os.O_CREAT, dir_fd=handle)
    os.write(log, b"record_id,documented_on\nR-DEEP,2016-11-03\n")
    os.close(log)
    os.close(handle)
    # the first folder whose path passes the limit is reported, with its contents unread
    limit = os.pathconf(raw, "PC_PATH_MAX")
    parts = shown.split("/")
    for depth in range(2, len(parts) + 1):
        if len(str(raw / "/".join(parts[:depth]))) >= limit:
            return "/".join(parts[:depth]) + "/"
    raise AssertionError("the path is not too long")


def _sparse(raw: Path, _: Path) -> str:
    with (raw / "items" / "huge.csv").open("wb") as handle:
        handle.truncate(20 * 1024**3)  # 20 GiB, no disk: hashing it took 15 s
    return "items/huge.csv"


def _near(path: str) -> Callable[[Path, Path], str]:
    def make(raw: Path, _: Path) -> str:
        _log(raw / path, f"R-{Path(path).stem.upper()}")
        return path
    return make


def _at_limit(raw: Path, _: Path) -> str:
    path = raw / "items" / "limit.csv"
    _log(path, "R-LIMIT", pad=LIMIT)
    with path.open("r+b") as handle:  # cut the padding to exactly the limit
        handle.truncate(LIMIT - 1)
        handle.seek(LIMIT - 1)
        handle.write(b"\n")
    return "items/limit.csv"


LINK = "a symbolic link to {}: armtrace reads only regular files inside the raw folder"
MISTAKES += [
    RawEntry("link_to_a_file_outside_raw",
             lambda raw, out: _link(raw, "shadow.csv", str(out / "secret.csv")),
             LINK.format("{outside}/secret.csv")),
    RawEntry("link_to_a_log_outside_raw",
             lambda raw, out: _link(raw, "outside-log.csv", str(out / "log.csv")),
             LINK.format("{outside}/log.csv")),
    RawEntry("link_inside_raw_to_a_log_inside_raw", _inside_link, LINK.format("target.csv")),
    RawEntry("link_to_a_folder", lambda raw, out: _link(raw, "team-link", str(out)),
             LINK.format("{outside}")),
    RawEntry("link_loop", lambda raw, _: _link(raw, "loop.csv", "loop.csv"),
             LINK.format("loop.csv")),
    RawEntry("dangling_link", lambda raw, _: _link(raw, "dangling.csv", "missing.csv"),
             LINK.format("missing.csv")),
    RawEntry("fifo_named_csv", _fifo, "not a regular file but a FIFO (named pipe)"),
    RawEntry("unreadable_file", _unreadable_file,
             "the file cannot be opened (Permission denied): give armtrace permission to read "
             "it", unprivileged=True),
    RawEntry("unreadable_folder", _unreadable_folder,
             "the folder cannot be opened (Permission denied)", unprivileged=True),
    RawEntry("name_not_utf8", _undecodable_name, "the name is not valid UTF-8 (shown with its "
                                                 "bytes escaped): rename it"),
    RawEntry("path_too_long", _too_long, "the path is longer than the system allows (File "
                                         "name too long): move the folder to a shorter path"),
    RawEntry("larger_than_the_limit_sparse", _sparse,
             f"the file holds 21,474,836,480 bytes, more than the limit of {LIMIT:,} bytes"),
    # near misses: read as usual
    RawEntry("the_target_of_a_link", lambda raw, _: "items/target.csv", None),
    RawEntry("utf8_name", _near("items/café.csv"), None),
    RawEntry("readable_folder_beside_an_unreadable_one", _near("items/open-team/log.csv"),
             None),
    RawEntry("file_of_exactly_the_limit", _at_limit, None),
]
RAW_ENTRIES = [m for m in MISTAKES if isinstance(m, RawEntry)]


@dataclass(frozen=True)
class HostileBuild:
    code: int
    output: str
    paths: dict[str, str]  # entry id -> path in source_files
    outside: Path
    con: duckdb.DuckDBPyConnection
    reports: Path


def _build_hostile(root: Path) -> None:
    """The installed command, without root's file permissions where it can, on a raw folder
    holding every RawEntry and one good log; what it printed and where each entry is in
    `result.json`."""
    raw, outside = root / "raw", root / "outside"
    for folder in ("curated", "reports"):  # new and empty: accepted (the near misses)
        (root / folder).mkdir()
    (root / "curated" / ".gitkeep").touch()
    _log(raw / "items" / "good.csv", "R-GOOD")
    _log(outside / "secret.csv", SECRET)
    _log(outside / "log.csv", "R-OUTSIDE")
    prefix = unprivileged()
    paths = {entry.id: entry.make(raw, outside) for entry in RAW_ENTRIES
             if prefix is not None or not entry.unprivileged}
    try:
        done = subprocess.run(
            [*(prefix or []), COMMAND, "build", "--raw", str(raw), "--curated",
             str(root / "curated"), "--reports", str(root / "reports"), "--today", TODAY],
            capture_output=True, text=True, timeout=600,
            env={**command_env(), ENV_MAX_FILE_BYTES: str(LIMIT)})
    finally:
        for locked in ("items/locked.csv", "items/locked-team"):
            if (raw / locked).exists():
                (raw / locked).chmod(0o755)
    (root / "result.json").write_text(json.dumps({
        "code": done.returncode, "output": done.stdout + done.stderr, "paths": paths}))


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileBuild]:
    root = built_once(tmp_path_factory, "operator-hostile-raw", _build_hostile)
    result = json.loads((root / "result.json").read_text())
    con = duckdb.connect(str(root / "curated" / "armtrace.duckdb"), read_only=True)
    yield HostileBuild(result["code"], result["output"], result["paths"], root / "outside",
                       con, root / "reports")
    con.close()


def test_the_hostile_raw_folder_builds_without_a_traceback(hostile: HostileBuild) -> None:
    assert hostile.code == 0, hostile.output
    assert "Traceback" not in hostile.output


def test_new_and_empty_output_folders_are_accepted(hostile: HostileBuild) -> None:
    """The hostile folder's build published into an empty reports folder and a curated folder
    holding only a .gitkeep: the near miss of every refused output folder."""
    curated = hostile.reports.parent / "curated"
    assert (curated / ".gitkeep").exists()  # kept, and the folder claimed
    assert json.loads((curated / MARKER).read_text())["armtrace"] == "curated"
    assert "index.html" in json.loads((hostile.reports / MARKER).read_text())["published"]


@pytest.mark.parametrize("entry", RAW_ENTRIES, ids=[e.id for e in RAW_ENTRIES])
def test_a_raw_entry_is_reported_by_name_or_read(hostile: HostileBuild, entry: RawEntry) -> None:
    if entry.id not in hostile.paths:
        pytest.skip("running as root without setpriv: root reads every file")
    path = hostile.paths[entry.id]
    found = hostile.con.sql("SELECT * FROM source_files WHERE path = ?", params=[path]).pl()
    assert found.height == 1, path
    file = found.row(0, named=True)
    quarantined = hostile.con.sql("SELECT reasons, problems FROM quarantine WHERE "
                                  "source_file = ?", params=[path]).fetchall()
    if entry.problem is None:
        assert (file["status"], file["problem"]) == ("ok", None)
        assert file["sha256"] is not None and file["rows_read"] == 1 and quarantined == []
        return
    problem = entry.problem.format(outside=hostile.outside)
    assert file["status"] == "unreadable" and problem in file["problem"]
    assert file["sha256"] is None  # never opened, not even to hash it
    assert file["rows_read"] == 1  # counted as one quarantined row, like an unreadable file
    assert quarantined == [(["unreadable_file"], [f"unreadable_file: {file['problem']}"])]


def test_nothing_outside_the_raw_folder_is_read(hostile: HostileBuild) -> None:
    ids = {row[0] for row in hostile.con.sql("SELECT record_id FROM items").fetchall()}
    assert "R-OUTSIDE" not in ids and SECRET not in ids
    assert {"R-GOOD", "R-TARGET", "R-CAFÉ", "R-LOG", "R-LIMIT"} <= ids
    cells = hostile.con.sql("SELECT string_agg(cells, '') FROM quarantine").fetchall()[0][0]
    assert SECRET not in (cells or "")
    for path in hostile.reports.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_every_row_of_the_hostile_raw_folder_is_in_one_place(hostile: HostileBuild) -> None:
    seen = [row[0] for row in hostile.con.sql(
        "SELECT row_number FROM items UNION ALL SELECT row_number FROM record_versions "
        "UNION ALL SELECT dropped_row FROM dedup_decisions "
        "UNION ALL SELECT row_number FROM quarantine").fetchall()]
    (rows_read,), = hostile.con.sql("SELECT sum(rows_read) FROM source_files").fetchall()
    assert sorted(seen) == list(range(rows_read))


# --- what the table shows through one case each ---------------------------------------------

def test_every_published_output_is_verified_by_its_hash(site: Site) -> None:
    """The table rebuilds a truncated database; a defaced, a deleted and an added report file
    are found by the same check, each named (build-timings.json is a log, not an output)."""
    paths = Paths.resolve(site.raw, site.curated, site.reports, site.reference,
                          site.corrections)
    (site.reports / "build-timings.json").write_text("{}")
    untouched = published_manifest(paths)
    assert untouched is not None and untouched.altered == ()  # near miss
    (site.reports / "index.html").write_text("defaced")
    (site.reports / "tables" / "eu_share.csv").unlink()
    manifest = published_manifest(paths)
    assert manifest is not None
    assert manifest.altered == (("reports/index.html", False),
                                ("reports/tables/eu_share.csv", True))
    reasons = rebuild_reasons(manifest, manifest, dt.date(2026, 1, 1))
    assert reasons == ["changed: output reports/index.html (not as published)",
                       "removed: output reports/tables/eu_share.csv (published, now missing)"]


def test_the_sensor_and_the_schedule_say_why_they_request_no_build(site: Site) -> None:
    """Runs that Dagster starts have no --force and no terminal: they skip, saying why."""
    import dagster as dg

    from pipeline.automation import build_request

    paths = Paths.resolve(site.raw, site.curated, site.reports, site.reference,
                          site.corrections)
    # near miss: an intact set (built with --today, which the schedule does not pass) is rebuilt
    assert isinstance(build_request(paths, "daily"), dg.RunRequest)
    (site.reports / MANIFEST_FILE).write_text("not json")
    skipped = build_request(paths, "daily")
    assert isinstance(skipped, dg.SkipReason)
    assert "build-manifest.json is damaged" in (skipped.skip_message or "")
    refused = build_request(Paths.resolve(site.raw, site.curated, site.raw), "daily")
    assert isinstance(refused, dg.SkipReason)
    assert "the reports folder" in (refused.skip_message or "")
    assert "is the raw folder" in (refused.skip_message or "")


# --- what the table cannot show: a file changing under the build, a folder swapped under it -

def test_a_file_changed_between_its_fingerprint_and_its_reading_fails_naming_it(
        tmp_path: Path) -> None:
    _log(tmp_path / "items" / "a.csv", "R-A")
    _log(tmp_path / "items" / "b.csv", "R-B")
    fingerprinted = discover_raw_files(tmp_path)
    rows, _ = read_dataset(tmp_path, fingerprinted)  # near miss: unchanged, read
    assert rows["record_id"].to_list() == ["R-A", "R-B"]
    _log(tmp_path / "items" / "b.csv", "R-B2")  # rewritten after its fingerprint
    with pytest.raises(RawFileChanged, match=re.escape(
            "the raw file items/b.csv changed while the build read it: wait until it is "
            "completely written")):
        read_dataset(tmp_path, fingerprinted)


def test_replacing_a_reports_folder_removes_only_what_armtrace_published(
        tmp_path: Path) -> None:
    """A file put into the published reports folder after the build checked it: the swap
    removes the published files and keeps the folder aside with that file, saying so."""
    published, built = tmp_path / "reports", tmp_path / ".reports.building"
    (published / "tables").mkdir(parents=True)
    (published / "tables" / "a.csv").write_text("published")
    (published / "index.html").write_text("published")
    write_marker(published, "reports", ["index.html", "tables/a.csv"])
    (published / "tables" / "mine.csv").write_text("the operator's")
    built.mkdir()
    (built / "index.html").write_text("new")
    warnings = swap_in_reports(built, published)
    assert (published / "index.html").read_text() == "new"
    (kept,) = [p for p in tmp_path.iterdir() if p.name.endswith(".old")]
    assert warnings == [f"kept {kept}, the reports folder this build replaced: it holds "
                        f"tables/mine.csv, which armtrace did not publish; move what you need, "
                        f"then delete the folder"]
    assert sorted(p.relative_to(kept).as_posix() for p in kept.rglob("*")) == [
        MARKER, "tables", "tables/mine.csv"]
