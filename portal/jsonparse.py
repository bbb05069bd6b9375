"""The one JSON reader for request bodies: DRF's parser and the plain-Django webhook views.

`json.loads` lets three kinds of hostile body through as something other than a ValueError or
as values the rest of the code cannot hold: nesting deep enough to exhaust the interpreter's
recursion limit (RecursionError, a 500), integers past Python's int-from-string digit limit
(a ValueError, but one that no JSON-specific `except` catches), and floats such as 1e999 that
become infinity. `loads` turns all of them into `JSONError`, a ValueError, so each caller's
existing "not JSON → 400" path handles them. Nesting is limited to MAX_DEPTH levels: no
payload we accept comes close, and deeper values would also strain every later consumer
(serializers, `json.dumps`, PostgreSQL's jsonb).
"""

from __future__ import annotations

import json
import math
from typing import Any

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError

MAX_DEPTH = 64


class JSONError(ValueError):
    """A body that is not JSON we accept; the message says why (it names no secret)."""


def _constant(name: str):
    raise JSONError(f"{name} is not allowed")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JSONError(f"number {text[:20]} is out of range")
    return value


def loads(data: str | bytes | bytearray) -> Any:
    """Parse JSON text, refusing what `json.loads` would turn into a 500 later.

    Raises JSONError (a ValueError) for malformed text, nesting deeper than MAX_DEPTH,
    integers longer than Python reads, NaN/Infinity and floats out of range."""
    try:
        value = json.loads(data, parse_constant=_constant, parse_float=_finite)
    except RecursionError:
        raise JSONError(f"nested deeper than {MAX_DEPTH} levels") from None
    except JSONError:
        raise
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, the int digit limit
        raise JSONError(str(exc)[:200]) from None
    _check_depth(value)
    return value


def _check_depth(value: Any) -> None:
    """Iterative (no recursion of our own): containers only, so a flat body costs nothing."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > MAX_DEPTH:
            raise JSONError(f"nested deeper than {MAX_DEPTH} levels")
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser on `loads`: every unreadable body is a 400 "JSON parse error"."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return loads(stream.read().decode(encoding))
        except ValueError as exc:  # JSONError and UnicodeDecodeError
            raise ParseError(f"JSON parse error - {exc}") from None
