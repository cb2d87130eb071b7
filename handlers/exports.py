"""Tables as downloadable files for the web desk (lists, the weekly review, rankings, the joint-meeting
agenda): an .xlsx that prints well, a CSV that Excel opens in Chinese, and the Content-Disposition
header that names them. Pure: no Flask, no database.

Times arrive as aware UTC (storage/models.py; a naive one is taken as UTC) and leave as the
community's wall time. Residents' words go into these files, so text is never run as a formula.
"""
from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Literal, Mapping, Sequence
from urllib.parse import quote
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

Kind = Literal["text", "int", "float", "percent", "date", "datetime"]

_FORMATS = {"int": "0", "float": "0.00", "percent": "0.0%", "date": "yyyy-mm-dd", "datetime": "yyyy-mm-dd hh:mm"}
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")   # OWASP: what a spreadsheet may read as a formula
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")
_BAD_FILE_CHARS = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
_MAX_CELL = 32767                                    # Excel's limit for one cell's text
_FILTER_ROOM = 2                                     # the autofilter arrow sits over the header text


@dataclass(frozen=True)
class Column:
    key: str                       # dict key of a row (tuple rows go by position)
    header: str                    # Chinese header text
    width: float = 12              # in Excel's unit, one Latin character; a Chinese character is 2
    kind: Kind = "text"
    number_format: str | None = None   # overrides the kind's default, e.g. "0.00%" or "#,##0"

    @property
    def fmt(self) -> str | None:
        return self.number_format or _FORMATS.get(self.kind)


@dataclass
class Table:
    title: str                     # sheet title and printed page header
    columns: list[Column]
    rows: Sequence[Mapping[str, Any] | Sequence[Any]] = ()
    subtitle: str | None = None    # printed in the page header (e.g. the week the review covers)
    notes: list[str] = field(default_factory=list)   # lines under the data (sheet only; CSV is data)


def display_width(text: str) -> int:
    """Width in Latin characters: wide (CJK, full-width) characters count 2."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _cells(table: Table) -> list[list[Any]]:
    """Rows as lists in column order; a dict's missing key is an empty cell."""
    out = []
    for row in table.rows:
        if isinstance(row, Mapping):
            out.append([row.get(c.key) for c in table.columns])
        else:
            vals = list(row)
            out.append([vals[i] if i < len(vals) else None for i in range(len(table.columns))])
    return out


def _local(value: Any, kind: str, zone: ZoneInfo) -> Any:
    """A date or datetime as the community's naive wall time; anything else unchanged."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        wall = aware.astimezone(zone).replace(tzinfo=None)
        return wall.date() if kind == "date" else wall
    return value


def _decimals(fmt: str) -> int:
    m = re.search(r"\.(0+)", fmt)
    return len(m.group(1)) if m else 0


def _clean_text(value: Any) -> str:
    return ILLEGAL_CHARACTERS_RE.sub("", str(value))[:_MAX_CELL]


# --- xlsx ----------------------------------------------------------------------------------------

def _sheet_name(title: str, taken: set[str]) -> str:
    """Excel's rules: no []:*?/\\, no quote at either end, at most 31 characters, unique ignoring case."""
    base = _BAD_SHEET_CHARS.sub("", ILLEGAL_CHARACTERS_RE.sub("", title)).strip().strip("'").strip()
    base = base[:31].rstrip("'") or "表"
    if base.lower() == "history":                    # reserved by Excel
        base = "History表"
    name, n = base, 1
    while name.lower() in taken:
        n += 1
        suffix = f"({n})"
        name = base[:31 - len(suffix)].rstrip("'") + suffix
    taken.add(name.lower())
    return name


def _header_text(text: str) -> str:
    """Header/footer text is a mini-language: & starts a code. Excel caps a header at 255 characters."""
    return text[:100].replace("&", "&&")


_BOLD = Font(bold=True)
_HEAD_FILL = PatternFill("solid", fgColor="DDEBF7")
_HEAD_ALIGN = Alignment(horizontal="center", vertical="center", wrap_text=True)
_TEXT_ALIGN = Alignment(vertical="top", wrap_text=True)   # long complaints wrap instead of running off
_TOP = Alignment(vertical="top")


def _write_sheet(ws, table: Table, zone: ZoneInfo) -> None:
    cols = table.columns
    for j, col in enumerate(cols, start=1):
        cell = ws.cell(row=1, column=j, value=_clean_text(col.header))
        cell.data_type = "s"
        cell.font, cell.fill, cell.alignment = _BOLD, _HEAD_FILL, _HEAD_ALIGN
        width = max(col.width, display_width(col.header) + _FILTER_ROOM)
        ws.column_dimensions[get_column_letter(j)].width = width

    rows = _cells(table)
    for i, values in enumerate(rows, start=2):
        for j, (col, value) in enumerate(zip(cols, values), start=1):
            if value is None:
                continue
            value = _local(value, col.kind, zone)
            cell = ws.cell(row=i, column=j)
            if col.kind == "text" or isinstance(value, str):
                cell.value = _clean_text(value)
                cell.data_type = "s"                 # "=..." from a resident stays text, not a formula
                cell.alignment = _TEXT_ALIGN
            else:
                cell.value = value
                cell.number_format = col.fmt or "General"
                cell.alignment = _TOP

    last = get_column_letter(max(len(cols), 1))
    ws.freeze_panes = "A2"
    if cols:
        ws.auto_filter.ref = f"A1:{last}{len(rows) + 1}"
    for k, line in enumerate(table.notes):           # below a blank row, outside the filter range
        note = ws.cell(row=len(rows) + 3 + k, column=1, value=_clean_text(line))
        note.data_type = "s"
        note.font = Font(italic=True, color="666666")

    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0   # one page wide, as many tall as needed
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = "1:1"
    ws.print_options.gridLines = True
    ws.oddHeader.center.text = "&B" + _header_text(table.title)
    if table.subtitle:
        ws.oddHeader.right.text = _header_text(table.subtitle)
    ws.oddFooter.center.text = "第 &P 页，共 &N 页"


def to_xlsx(tables: list[Table], tz: str) -> bytes:
    """One sheet per table, in order, times in tz (e.g. "Asia/Shanghai")."""
    if not tables:
        raise ValueError("to_xlsx needs at least one table (an empty table still gives a sheet)")
    zone = ZoneInfo(tz)
    wb = Workbook()
    wb.remove(wb.active)
    wb.properties.creator = "接诉"
    taken: set[str] = set()
    for table in tables:
        _write_sheet(wb.create_sheet(_sheet_name(table.title, taken)), table, zone)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# --- csv -----------------------------------------------------------------------------------------

def _csv_cell(col: Column, value: Any, zone: ZoneInfo) -> str:
    if value is None:
        return ""
    value = _local(value, col.kind, zone)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.strftime("%Y-%m-%d")
    if col.kind == "percent" and isinstance(value, (int, float)):
        return f"{value * 100:.{_decimals(col.fmt)}f}%"
    if col.kind == "float" and isinstance(value, (int, float)):
        return f"{value:.{_decimals(col.fmt)}f}"
    if col.kind == "int" and isinstance(value, (int, float)):
        return str(int(value))
    return _defused(str(value))


def _defused(text: str) -> str:
    """A leading apostrophe keeps a spreadsheet from running the text as a formula (CSV injection)."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def to_csv(table: Table, tz: str) -> bytes:
    """UTF-8 with a BOM (Excel otherwise guesses GBK), the Chinese headers, then the rows only."""
    zone = ZoneInfo(tz)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([_defused(c.header) for c in table.columns])
    for values in _cells(table):
        w.writerow([_csv_cell(c, v, zone) for c, v in zip(table.columns, values)])
    return buf.getvalue().encode("utf-8-sig")


# --- file names ----------------------------------------------------------------------------------

def filename(title: str, ext: str, day: date) -> str:
    """The file's real name, e.g. "每周回顾-2026-11-21.xlsx": characters no file system allows become _."""
    if not re.fullmatch(r"[a-z0-9]{1,8}", ext):
        raise ValueError(f"bad extension {ext!r}")
    stem = _BAD_FILE_CHARS.sub("_", title).strip(" .") or "接诉导出"
    return f"{stem[:80]}-{day:%Y-%m-%d}.{ext}"


def content_disposition(title: str, ext: str, day: date) -> str:
    """attachment; filename="<ASCII fallback>"; filename*=UTF-8''<percent-encoded name> (RFC 6266/5987).

    Browsers that read filename* save the Chinese name; the rest get the ASCII one."""
    name = filename(title, ext, day)
    ascii_stem = re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-")[:60] or "jiesu"
    fallback = f"{ascii_stem}-{day:%Y-%m-%d}.{ext}"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
