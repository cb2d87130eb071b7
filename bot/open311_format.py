"""Open311 GeoReport v2 responses as the spec writes them, in XML or JSON (bot/open311.py).

XML: the declaration with encoding="utf-8", then a root list element (services, service_requests,
errors) holding one item element per row (service, request, error), every field a child element in
the order given, text escaped by ElementTree. JSON is the Spark convention's mapping of that XML: a
list of objects, the same fields in the same order. A field whose value is None is null in JSON and
an empty element in XML (as the spec's <account_id/>); True/False are "true"/"false" in XML.
Both are UTF-8 with the spec's content types."""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

from flask import Response

FORMATS = ("xml", "json")
CONTENT_TYPES = {"xml": "text/xml; charset=utf-8", "json": "application/json; charset=utf-8"}
_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>\n'
# characters XML 1.0 cannot carry at all (escaping does not help): dropped from any text given out
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def clean_text(value: str) -> str:
    return _NOT_XML.sub("", value)


def _xml_text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return clean_text(str(value))


def _json_value(value):
    return clean_text(value) if isinstance(value, str) else value


def render(fmt: str, root: str, item: str, rows: list[dict], status: int = 200) -> Response:
    """rows: one dict per item, its fields in the spec's order."""
    if fmt == "json":
        body = json.dumps([{k: _json_value(v) for k, v in row.items()} for row in rows], ensure_ascii=False)
    else:
        top = ET.Element(root)
        for row in rows:
            el = ET.SubElement(top, item)
            for key, value in row.items():
                ET.SubElement(el, key).text = _xml_text(value)
        body = _DECLARATION + ET.tostring(top, encoding="unicode")
    return Response(body.encode("utf-8"), status=status, content_type=CONTENT_TYPES[fmt])


def errors(fmt: str, status: int, descriptions: list[str]) -> Response:
    """The spec's error list: one {code, description} per problem, code = the HTTP status."""
    return render(fmt if fmt in FORMATS else "xml", "errors", "error",
                  [{"code": status, "description": d} for d in descriptions], status)
