"""Decentral webhook routes: register, list, delete (delivery is in ..webhooks)."""

from __future__ import annotations

from ..cloud import Cloud
from ..reply import Reply, api_error, json_reply, no_content
from .request import Request, Route


def list_webhooks(cloud: Cloud, r: Request) -> Reply:
    return json_reply(200, cloud.webhooks.list())


def create_webhook(cloud: Cloud, r: Request) -> Reply:
    return json_reply(200, cloud.webhooks.register(r.json()))


def delete_webhook(cloud: Cloud, r: Request, webhook_id: str) -> Reply:
    if not webhook_id.isdigit() or not cloud.webhooks.delete(int(webhook_id)):
        return api_error(404, "webhook not found")
    return no_content()


ROUTES: list[Route] = [
    ("GET", "/api/decentralWebhook", list_webhooks, True),
    ("PUT", "/api/decentralWebhook", create_webhook, True),
    ("DELETE", "/api/decentralWebhook/{id}", delete_webhook, True),
]
