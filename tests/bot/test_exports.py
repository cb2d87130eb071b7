"""Exports: the workbook read back with openpyxl, the CSV with the csv module, the download header."""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, timezone
from urllib.parse import quote

from openpyxl import load_workbook

from handlers.exports import Column, Table, content_disposition, filename, to_csv, to_xlsx

TZ = "Asia/Shanghai"
EVIL = '=HYPERLINK("http://evil.example","点这里")'

COLUMNS = [
    Column("code", "工单号", 14),
    Column("text", "反映内容摘要说明", 10),            # 8 Chinese characters: wider than 10
    Column("at", "受理时间", 18, "datetime"),
    Column("day", "日期", 12, "date"),
    Column("rate", "满意率", 10, "percent"),
    Column("n", "件数", 8, "int"),
]


def table(title="每周回顾", rows=None, **kw) -> Table:
    if rows is None:
        rows = [
            {"code": "#20261121-0007", "text": EVIL, "at": datetime(2026, 11, 21, 1, 30, tzinfo=timezone.utc),
             "day": datetime(2026, 11, 20, 17, 0, tzinfo=timezone.utc), "rate": 0.935, "n": -3},
            ("#20261121-0008", "+86 电话 @王芳", None, date(2026, 11, 21), None, 12),
        ]
    return Table(title, COLUMNS, rows, **kw)


def sheet(tables):
    return load_workbook(io.BytesIO(to_xlsx(tables, TZ)))


def test_xlsx_header_widths_and_local_times():
    ws = sheet([table()]).worksheets[0]
    assert [c.value for c in ws[1]] == [c.header for c in COLUMNS]
    assert all(c.font.bold for c in ws[1]) and not ws["A2"].font.bold
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == "A1:F3"
    widths = {k: d.width for k, d in ws.column_dimensions.items()}
    assert widths["A"] == 14 and widths["C"] == 18
    assert widths["B"] >= 16                                     # the header counts 2 per character
    at = ws["C2"].value
    assert isinstance(at, datetime) and at.tzinfo is None and at == datetime(2026, 11, 21, 9, 30)
    assert ws["C2"].is_date and "h" in ws["C2"].number_format
    assert ws["D2"].value == datetime(2026, 11, 21) and ws["D2"].is_date   # 17:00 UTC is the next day there
    assert ws["E2"].value == 0.935 and ws["E2"].number_format == "0.0%"
    assert ws["F2"].value == -3 and ws["E3"].value is None and ws["C3"].value is None


def test_xlsx_resident_text_is_never_a_formula():
    ws = sheet([table(rows=[{"code": "#1", "text": EVIL + "\x01"}])]).worksheets[0]
    assert ws["B2"].value == EVIL and ws["B2"].data_type == "s"    # control character dropped, no formula


def test_xlsx_prints_landscape_one_page_wide_with_titles():
    ws = sheet([table("投诉 & 排名", subtitle="第47周")]).worksheets[0]
    assert ws.page_setup.orientation == "landscape"
    assert ws.page_setup.fitToWidth == 1 and ws.page_setup.fitToHeight == 0
    assert ws.sheet_properties.pageSetUpPr.fitToPage
    assert ws.print_title_rows == "$1:$1"
    assert "投诉 && 排名" in ws.oddHeader.center.text                # & escaped in the header mini-language
    assert ws.oddHeader.right.text == "第47周"
    assert "&P" in ws.oddFooter.center.text and "&N" in ws.oddFooter.center.text


def test_two_tables_two_sheets_with_clean_unique_names():
    long = "联席会议议题清单[2026/11]：" + "很长的标题" * 8
    wb = sheet([table(long), table(long), table("每周回顾")])
    names = wb.sheetnames
    assert len(names) == 3 and len({n.lower() for n in names}) == 3
    assert all(len(n) <= 31 and not set(n) & set("[]:*?/\\") for n in names)
    assert names[0].startswith("联席会议议题清单202611") and names[1].endswith("(2)")
    assert names[2] == "每周回顾"


def test_empty_table_keeps_its_header_and_notes_stay_outside_the_filter():
    ws = sheet([table(rows=[], notes=["注：本周无超时工单"])]).worksheets[0]
    assert [c.value for c in ws[1]] == [c.header for c in COLUMNS] and ws["A1"].font.bold
    assert ws.auto_filter.ref == "A1:F1" and ws["A2"].value is None
    assert ws["A3"].value == "注：本周无超时工单"


def test_csv_bom_headers_formats_and_injection():
    data = to_csv(table(), TZ)
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows[0] == [c.header for c in COLUMNS]
    assert rows[1] == ["#20261121-0007", "'" + EVIL, "2026-11-21 09:30", "2026-11-21", "93.5%", "-3"]
    assert rows[2] == ["#20261121-0008", "'+86 电话 @王芳", "", "2026-11-21", "", "12"]
    assert len(rows) == 3


def test_csv_percent_follows_the_number_format():
    t = Table("排名", [Column("r", "及时率", kind="percent", number_format="0.00%"), Column("s", "说明")],
              [(0.5, "-恶意"), (1, "@all")])
    rows = list(csv.reader(io.StringIO(to_csv(t, TZ).decode("utf-8-sig"), newline="")))
    assert rows[1:] == [["50.00%", "'-恶意"], ["100.00%", "'@all"]]


def test_content_disposition_has_ascii_fallback_and_utf8_name():
    day = date(2026, 11, 21)
    value = content_disposition("每周回顾", "xlsx", day)
    assert value.isascii() and value.startswith("attachment; ")
    assert 'filename="jiesu-2026-11-21.xlsx"' in value
    assert "filename*=UTF-8''" + quote("每周回顾-2026-11-21.xlsx") in value
    assert "%E6%AF%8F%E5%91%A8" in value                       # 每周, percent-encoded UTF-8
    assert filename('a/b:"c"\r\n', "csv", day) == "a_b__c___-2026-11-21.csv"
