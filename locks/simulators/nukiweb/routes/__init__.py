"""The Nuki Web API's routes, one module per resource (oauth, account, smartlocks, auths, logs,
webhooks). Each route is a function (cloud, request, *path values) -> Reply; `ROUTES` is the
whole table with its path templates compiled, which the server matches in order."""

from __future__ import annotations

import re
from collections.abc import Callable

from ..reply import Reply
from . import account, auths, logs, oauth, smartlocks, webhooks
from .request import Request, Route

PLACEHOLDERS = {
    r"\{smartlockId\}": r"(\d+)",
    r"\{id\}": r"([^/]+)",
    r"\{accountUserId\}": r"(\d+)",
}

CompiledRoute = tuple[str, re.Pattern[str], str, Callable[..., Reply], bool]
"""(method, path pattern, template (the counters' name), handler, needs a bearer token)."""


def compile_routes(table: list[Route]) -> list[CompiledRoute]:
    routes = []
    for method, template, handler, needs_token in table:
        pattern = re.escape(template)
        for placeholder, group in PLACEHOLDERS.items():
            pattern = pattern.replace(placeholder, group)
        routes.append((method, re.compile(f"^{pattern}$"), template, handler, needs_token))
    return routes


ROUTES = compile_routes(
    [
        *oauth.ROUTES,
        *account.ROUTES,
        *smartlocks.ROUTES,
        *auths.ROUTES,
        *logs.ROUTES,
        *webhooks.ROUTES,
    ]
)

__all__ = ["ROUTES", "CompiledRoute", "Request"]
