"""Great Expectations Data Docs rewritten to need no network.

GX's pages load Bootstrap, Font Awesome, jQuery, bootstrap-table and Vega from CDNs and their
logo from S3. `make_offline` rewrites every page of a Data Docs site so that it loads only
files of the site:
- the CDN tags go, and with them every script of the pages: each one calls jQuery;
- images and `url(...)` styles that point at GX's S3 bucket point at the copies GX writes into
  the site's `static/images/` (or go, where GX ships no copy), and every `static/` link is
  made relative to the page (GX counts folders from the suite name and misses by one);
- `data_docs.css` beside this module, copied into the site, stands in for the Bootstrap and
  Font Awesome rules the pages use (status icons as characters, collapsed sections opened by
  their link through `:target`, every tab shown, controls that needed a script hidden);
- the index's two lists, which bootstrap-table draws from data in a script, are written as
  HTML tables, each row's first cell a link to its page.
"""

from __future__ import annotations

import ast
import html
import re
import shutil
from pathlib import Path
from typing import Any

STYLESHEET = Path(__file__).with_name("data_docs.css")
SITE_STYLESHEET = "static/styles/armtrace-offline.css"
SITE_IMAGES = "static/images/"

_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.IGNORECASE | re.DOTALL)
_EXTERNAL_LINK = re.compile(r'<link[^>]*\shref="https?://[^"]*"[^>]*>', re.IGNORECASE)
_EXTERNAL_IMG = re.compile(r'<img([^>]*)\ssrc="https?://[^"]*/([^"/?]*)[^"]*"([^>]*)>',
                           re.IGNORECASE)
_EXTERNAL_HREF = re.compile(r'\shref="https?://[^"]*"', re.IGNORECASE)
_EXTERNAL_URL = re.compile(r"url\(\s*['\"]?https?://[^)]*\)", re.IGNORECASE)
_STATIC_LINK = re.compile(r'((?:src|href)=")(?:\./|\.\./)*static/')
_TABLE_SCRIPT = re.compile(r"\$\('#([\w-]+)'\)\.bootstrapTable\(")


def make_offline(docs_dir: Path) -> None:
    """Rewrite every page of the Data Docs site in `docs_dir` (see the module's docstring)."""
    (docs_dir / SITE_STYLESHEET).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(STYLESHEET, docs_dir / SITE_STYLESHEET)
    for page in docs_dir.rglob("*.html"):
        root = "../" * (len(page.relative_to(docs_dir).parts) - 1)
        text = _offline_page(page.read_text(encoding="utf-8"), docs_dir, root)
        page.write_text(text, encoding="utf-8")
    for sheet in docs_dir.rglob("*.css"):  # GX's default styles load a logo from S3
        css = sheet.read_text(encoding="utf-8")
        sheet.write_text(_EXTERNAL_URL.sub("none", css), encoding="utf-8")


def _offline_page(text: str, docs_dir: Path, root: str) -> str:
    """A page's HTML needing no network; `root` is the site's folder relative to the page."""
    text = _SCRIPT.sub("", _static_tables(text))
    text = _EXTERNAL_LINK.sub("", text)
    text = _EXTERNAL_IMG.sub(lambda m: _local_image(m, docs_dir, root), text)
    text = _EXTERNAL_HREF.sub("", text)
    text = _EXTERNAL_URL.sub("none", text)
    text = _STATIC_LINK.sub(rf"\g<1>{root}static/", text)
    return text.replace("</head>", f'<link rel="stylesheet" href="{root}{SITE_STYLESHEET}">'
                                   "\n</head>", 1)


def _local_image(match: re.Match[str], docs_dir: Path, root: str) -> str:
    """The <img> with its S3 source replaced by GX's copy in the site, or nothing."""
    before, name, after = match.groups()
    if not (docs_dir / SITE_IMAGES / name).is_file():
        return ""
    return f'<img{before} src="{root}{SITE_IMAGES}{html.escape(name)}"{after}>'


def _static_tables(text: str) -> str:
    """`text` with each table that a bootstrapTable script fills written out as HTML."""
    tables = {match.group(1): _html_table(match.group(1),
                                          _literal_after(text, "columns:", match.end()),
                                          _literal_after(text, "data:", match.end()))
              for match in _TABLE_SCRIPT.finditer(text)}
    for table_id, table in tables.items():
        empty = re.compile(rf'<table\s+id="{re.escape(table_id)}"[^>]*>\s*</table>')
        text, found = empty.subn(lambda _, table=table: table, text, count=1)
        if not found:
            raise ValueError(f"Data Docs: no empty table {table_id!r} for its data")
    return text


def _literal_after(text: str, key: str, start: int) -> Any:
    """The Python literal (a list GX wrote with repr) that follows `key` after `start`."""
    begin = text.index("[", text.index(key, start))
    depth, quote, index = 0, "", begin
    while True:
        char = text[index]
        if quote:
            if char == "\\":
                index += 1
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                return ast.literal_eval(text[begin:index + 1])
        index += 1


def _html_table(table_id: str, columns: list[dict[str, str]],
                rows: list[dict[str, Any]]) -> str:
    """Rows as bootstrap-table draws them (cells are GX's HTML), the first cell a link."""
    head = "".join(f"<th>{html.escape(c['title'])}</th>" for c in columns)
    fields = [c["field"] for c in columns]
    body = []
    for row in rows:
        cells = [str(row.get(name, "")) for name in fields]
        status = row.get("_validation_success_text")
        if status is not None and "validation_success" in fields:
            where = fields.index("validation_success")
            cells[where] += f' <span class="ge-status">{html.escape(status)}</span>'
        if "_table_row_link_path" in row:
            cells[0] = f'<a href="{html.escape(row["_table_row_link_path"])}">{cells[0]}</a>'
        body.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    return (f'<div class="table-responsive"><table id="{table_id}" class="table table-sm">'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")
