"""OAuth2 routes: the consent page and the token endpoint (the logic is in ..oauth)."""

from __future__ import annotations

from urllib.parse import parse_qs

from ..cloud import Cloud
from ..reply import Reply
from .request import Request, Route


def authorize_get(cloud: Cloud, r: Request) -> Reply:
    return cloud.oauth.authorize_get(r.params)


def authorize_post(cloud: Cloud, r: Request) -> Reply:
    form = {k: v[-1] for k, v in parse_qs(r.body.decode(errors="replace")).items()}
    return cloud.oauth.authorize_post(form)


def token(cloud: Cloud, r: Request) -> Reply:
    return cloud.oauth.token(r.headers, r.body)


ROUTES: list[Route] = [
    ("GET", "/oauth/authorize", authorize_get, False),
    ("POST", "/oauth/authorize", authorize_post, False),
    ("POST", "/oauth/token", token, False),
]
