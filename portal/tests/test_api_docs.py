"""The API docs tell a caller what they need (issue 15, "Docs and API").

- The schema offers the organization's API key (HTTP bearer) on every /api/ operation and the
  agent's token on the agent protocol's, so "Authorize" in Swagger UI takes either.
- `POST /api/v1/bookings/` carries examples, and they are true: the request examples, posted as
  they stand, make and then update a booking, and the answers have the documented shape.
- Swagger UI and ReDoc's files are ours (drf-spectacular-sidecar, pinned), found by staticfiles.
"""

from __future__ import annotations

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

from properties.services import property_create


@pytest.fixture
def schema(db) -> dict:
    response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def _operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield path, method, operation


def test_the_schema_offers_the_api_key_and_the_agent_token(schema):
    schemes = schema["components"]["securitySchemes"]
    assert schemes["apiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An organization's API key: `Authorization: Bearer <key>`.",
    }
    assert schemes["agentToken"]["type"] == "http" and schemes["agentToken"]["scheme"] == "bearer"
    for path, method, operation in _operations(schema):
        names = {name for requirement in operation.get("security", []) for name in requirement}
        if path.startswith("/api/"):
            assert "apiKey" in names, (method, path)
        elif path == "/agent/v1/enroll":
            assert operation["security"] == [{}]  # the enrollment token is in the body
        else:
            assert path.startswith("/agent/v1/"), path
            assert names == {"agentToken"}, (method, path)


def test_booking_create_has_request_and_response_examples(schema):
    operation = schema["paths"]["/api/v1/bookings/"]["post"]
    request = operation["requestBody"]["content"]["application/json"]["examples"]
    assert set(request) == {"ConfirmedStay", "LaterCheckOut"}
    for status in ("201", "200", "400"):
        examples = operation["responses"][status]["content"]["application/json"]["examples"]
        assert examples, status


@pytest.mark.django_db
def test_the_booking_examples_are_true(schema, world, settings):
    settings.LATCHKEY_SITE_URL = "http://testserver"
    property_create(
        organization=world.org, name="Alpine Loft", timezone="Europe/Vienna",
        external_ref="alpine-loft",
    )  # fmt: skip
    operation = schema["paths"]["/api/v1/bookings/"]["post"]
    request = operation["requestBody"]["content"]["application/json"]["examples"]
    responses = operation["responses"]
    api = world.api(world.write_key)

    created = api.post("/api/v1/bookings/", request["ConfirmedStay"]["value"], format="json")
    assert created.status_code == 201, created.content
    documented = responses["201"]["content"]["application/json"]["examples"]["Created"]["value"]
    assert set(created.json()) == set(documented)
    assert set(created.json()["guest"]) == set(documented["guest"])

    updated = api.post("/api/v1/bookings/", request["LaterCheckOut"]["value"], format="json")
    assert updated.status_code == 200, updated.content
    assert updated.json()["id"] == created.json()["id"]
    assert updated.json()["check_out"] == "2027-07-05"

    refused = api.post(
        "/api/v1/bookings/",
        {**request["ConfirmedStay"]["value"], "property": "nowhere"},
        format="json",
    )
    assert refused.status_code == 400
    assert refused.json() == {"property": ["No such property."]}


def test_swagger_ui_and_redoc_files_are_served_by_the_portal():
    for name in (
        "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js",
        "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css",
        "drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js",
        "portal/api-docs.css",
    ):
        assert finders.find(name), name
