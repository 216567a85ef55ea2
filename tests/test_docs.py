"""The data dictionary in docs/ is the one the database's comments give, and every table and
column of the database has a comment."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import duckdb

from pipeline.dictionary import data_dictionary
from pipeline.paths import REPO_ROOT
from pipeline.stages.figures import FIGURE_IDS


def test_every_table_and_column_is_commented(sample_build: tuple[Path, Path]) -> None:
    with duckdb.connect(str(sample_build[0]), read_only=True) as con:
        tables = con.sql("SELECT table_name FROM duckdb_tables() WHERE comment IS NULL "
                         "OR comment = ''").fetchall()
        columns = con.sql("SELECT table_name, column_name FROM duckdb_columns() "
                          "WHERE schema_name = 'main' AND NOT internal "
                          "AND (comment IS NULL OR comment = '')"
                          ).fetchall()
        figures = con.sql("SELECT count(*) FROM duckdb_tables() "
                          "WHERE table_name LIKE 'fig\\_%' ESCAPE '\\'").fetchall()
    assert tables == [] and columns == []
    assert figures == [(len(FIGURE_IDS),)]


def test_data_dictionary_in_docs_is_current(sample_build: tuple[Path, Path]) -> None:
    with duckdb.connect(str(sample_build[0]), read_only=True) as con:
        generated = data_dictionary(con)
    committed = (REPO_ROOT / "docs" / "data-dictionary.md").read_text()
    assert committed == generated, ("docs/data-dictionary.md is stale: run `armtrace "
                                    "dictionary --out docs/data-dictionary.md` after a build")


def test_no_file_holds_a_merge_conflict_marker() -> None:
    """A merge left half done shows as a conflict marker in a doc or a source file."""
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True,
                             text=True, check=True).stdout.split()
    markers = re.compile(r"^(<<<<<<< |=======$|>>>>>>> )", re.MULTILINE)
    found = [name for name in tracked
             if Path(name).suffix in {".md", ".py", ".sql", ".toml", ".yaml", ".csv", ".txt"}
             and markers.search((REPO_ROOT / name).read_text(encoding="utf-8", errors="replace"))]
    assert found == []


USER_DOCS = ("README.md", "docs")
"""What a user reads: the README and every page under docs/."""

OUTSIDE_POINTERS = ("shared/spec", "../shared", "/work/shared", "shared/reference")
HISTORY = re.compile(r"\bissues?\s*#?\d+\b|\b(?:first|second|third|fourth|fifth|sixth|seventh|"
                     r"eighth|ninth|tenth|\d+(?:st|nd|rd|th))\s+pass(?:es)?\b|\bpass\s+\d+\b",
                     re.IGNORECASE)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
CODE = re.compile(r"^(```|~~~).*?^\1[^\n]*$|`[^`\n]*`", re.MULTILINE | re.DOTALL)


def markdown_files(*roots: str, base: Path = REPO_ROOT) -> list[Path]:
    found: list[Path] = []
    for root in roots:
        path = base / root
        found += sorted(path.rglob("*.md")) if path.is_dir() else [path]
    return found


def heading_anchors(text: str) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation but hyphens and
    underscores dropped, spaces as hyphens; a repeated heading gets -1, -2..."""
    anchors: set[str] = set()
    text = re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", text, flags=re.MULTILINE | re.DOTALL)
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        anchor, number = slug, 0
        while anchor in anchors:
            number += 1
            anchor = f"{slug}-{number}"
        anchors.add(anchor)
    return anchors


def broken_links(page: Path) -> list[str]:
    """Each relative link of a Markdown page whose file, or heading anchor, does not exist."""
    broken = []
    for target in LINK.findall(CODE.sub("", page.read_text(encoding="utf-8"))):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in heading_anchors(
                linked.read_text(encoding="utf-8")):
            broken.append(f"{target}: no heading with that anchor in {linked.name}")
    return broken


def test_every_link_in_the_docs_leads_to_a_file_and_heading_that_exist() -> None:
    broken = {str(page.relative_to(REPO_ROOT)): links
              for page in markdown_files(*USER_DOCS, "data")
              if (links := broken_links(page))}
    assert broken == {}


def test_a_link_to_a_missing_file_or_heading_is_found(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other page\n\n## Files and `folders`\n\n## Files and "
                                       "`folders`\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text("[ok](other.md) [ok](other.md#files-and-folders) "
                    "[ok](other.md#files-and-folders-1) [ok](https://example.org/x.md) "
                    "[ok](#a-heading)\n\n# A heading\n\n"
                    "`[not a link](gone.md)` [gone](gone.md) [anchor](other.md#files) "
                    "[own anchor](#nowhere)\n\n```\n[in code](gone.md)\n```\n",
                    encoding="utf-8")
    assert broken_links(page) == ["gone.md: no such file",
                                  "other.md#files: no heading with that anchor in other.md",
                                  "#nowhere: no heading with that anchor in page.md"]


def test_nothing_shown_to_a_user_points_outside_the_repository() -> None:
    """The contracts as implemented are the repository's own docs (docs/input-format.md,
    docs/figures.md); a user has no shared/ folder. Covers the docs, and the code whose
    comments, messages and templates a user reads."""
    shown = markdown_files(*USER_DOCS) + [
        path for path in sorted((REPO_ROOT / "pipeline").rglob("*"))
        if path.suffix in {".py", ".sql", ".j2", ".md", ".html"}]
    found = [f"{path.relative_to(REPO_ROOT)}: {pointer}" for path in shown
             for pointer in OUTSIDE_POINTERS if pointer in path.read_text(encoding="utf-8")]
    assert found == []


def test_the_docs_are_reference_not_a_diary() -> None:
    """No issue numbers and no 'seventh pass' history in what a user reads: git keeps that."""
    found = [f"{page.relative_to(REPO_ROOT)}: {match.group(0)}"
             for page in markdown_files(*USER_DOCS)
             for match in HISTORY.finditer(page.read_text(encoding="utf-8"))]
    assert found == []
    assert [HISTORY.search(text) is not None for text in (
        "see issue 24", "Issue #5 says", "the seventh pass", "in the 3rd pass", "pass 2",
        "each log in one pass", "the issued licence", "passes 2 tests")] == [
        True, True, True, True, True, False, False, False]
