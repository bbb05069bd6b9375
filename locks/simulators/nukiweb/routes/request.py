"""What an API route is given: the query parameters, headers and raw body of one request."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..model import Invalid
from ..reply import Reply

Route = tuple[str, str, Callable[..., Reply], bool]
"""(method, path template, handler(cloud, request, *path values), needs a bearer token)."""


class Request:
    def __init__(self, params: dict[str, str], headers: dict[str, str], body: bytes):
        self.params = params
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            raise Invalid("malformed JSON body") from None

    def int_param(self, name: str) -> int | None:
        value = self.params.get(name)
        if value in (None, ""):
            return None
        try:
            return int(value)
        except ValueError:
            raise Invalid(f"'{name}' must be an integer") from None

    def types_param(self) -> set[int] | None:
        value = self.params.get("types")
        if not value:
            return None
        try:
            return {int(part) for part in value.split(",") if part.strip()}
        except ValueError:
            raise Invalid("'types' must be comma-separated integers, e.g. 0,2,13") from None
