"""What a handler answers: status, body bytes, content type and extra headers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit


@dataclass
class Reply:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(status: int, data: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(data).encode(), "application/json", headers or {})


def no_content() -> Reply:
    return Reply(204)


def api_error(status: int, message: str) -> Reply:
    """An API error. The body's shape (a serialized Java exception with detailMessage) is what
    users report seeing from api.nuki.io; clients should go by the status code."""
    return json_reply(
        status, {"detailMessage": message, "stackTrace": [], "suppressedExceptions": []}
    )


def html_reply(status: int, page: str) -> Reply:
    return Reply(status, page.encode(), "text/html; charset=utf-8")


def redirect(url: str) -> Reply:
    return Reply(302, b"", None, {"Location": url, "Cache-Control": "no-store"})


def with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = parts.query + ("&" if parts.query else "") + urlencode(params)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
