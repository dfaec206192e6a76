"""Rendering Open311 answers as JSON or XML, with the spec's element names. Pure.

Values arrive ready to print (times already ISO 8601 strings, see rules.iso). In XML a list is a
wrapper element whose children are named by CHILD (services/service, attributes/attribute,
values/value, service_requests/request, errors/error, endpoints/endpoint, formats/format,
service_request_updates/request_update); booleans are true/false; None is an empty element.
"""

import json
import re
import xml.etree.ElementTree as ET
from enum import StrEnum
from typing import Any

JSON_TYPE = "application/json; charset=utf-8"
XML_TYPE = "text/xml; charset=utf-8"


class Format(StrEnum):
    JSON = "json"
    XML = "xml"


MEDIA_TYPES = {Format.JSON: JSON_TYPE, Format.XML: XML_TYPE}

CHILD = {
    "services": "service",
    "attributes": "attribute",
    "values": "value",
    "service_requests": "request",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
    "service_request_updates": "request_update",
}

# Characters XML 1.0 cannot carry at all (user text may hold them): dropped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("", str(value))


def _element(name: str, value: Any) -> ET.Element:
    el = ET.Element(name)
    if isinstance(value, dict):
        for key, item in value.items():
            el.append(_element(key, item))
    elif isinstance(value, list):
        child = CHILD.get(name, "item")
        for item in value:
            el.append(_element(child, item))
    else:
        el.text = _text(value)
    return el


def to_xml(root: str, value: Any) -> bytes:
    body = ET.tostring(_element(root, value), encoding="unicode")
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + body).encode("utf-8")


def to_json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def render(fmt: Format, root: str, value: Any) -> tuple[bytes, str]:
    """The body and its media type; `root` names the XML document element."""
    if fmt is Format.XML:
        return to_xml(root, value), XML_TYPE
    return to_json(value), JSON_TYPE


def errors(status_code: int, description: str) -> list[dict[str, Any]]:
    """The spec's error list: one error with the HTTP status as its code."""
    return [{"code": status_code, "description": description}]
