"""Examples of `POST /api/v1/bookings/` for the OpenAPI schema (Swagger UI, ReDoc).

What a first caller needs to see: the smallest body that makes a stay with a code, the same
booking sent again later (an update by external_id), and the answers: 201 with each door's code
`setting`, 200 after the update, 400 naming the field. Kept apart from bookings/api.py so the
view stays about behaviour; the values follow the demo ("alpine-loft", Europe/Vienna, 15:00 and
11:00), the valid_from/valid_until in UTC as the API answers them.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse

_GUEST = {
    "name": "Anna Berger",
    "email": "anna@example.com",
    "phone": "+43 660 1234567",
    "language": "de",
}


def _answer(*, status: str, check_out: str, until: str, state: str, updated: str) -> dict:
    """A booking as the API answers it (bookings.api.booking_body), for a write key."""
    return {
        "id": 42,
        "external_id": "HX-10231",
        "source": "api",
        "status": status,
        "property": 7,
        "check_in": "2027-07-01",
        "check_out": check_out,
        "check_in_time": None,
        "check_out_time": None,
        "guest": {**_GUEST, "phone_last4": "4567", "nuki_email": ""},
        "reservation_url": "",
        "access": [
            {
                "lock": lock,
                "lock_name": name,
                "kind": "keypad",
                "code": "482913",
                "code_masked": False,
                "valid_from": "2027-07-01T13:00:00Z",
                "valid_until": until,
                "state": state,
                "last_error": "",
            }
            for lock, name in ((11, "Building door"), (12, "Flat door"))
        ],
        "created_at": "2026-12-03T09:12:00Z",
        "updated_at": updated,
    }


BOOKING_CREATE_EXAMPLES = [
    OpenApiExample(
        "ConfirmedStay",
        summary="A confirmed stay",
        description=(
            "`property` is the property's id or its `external_ref` (both shown on the "
            "property's page). Dates alone take the property's check-in and check-out times, "
            "in its time zone. `confirmed` stays get a code on every door of the property; "
            "`tentative` ones none yet."
        ),
        value={
            "external_id": "HX-10231",
            "property": "alpine-loft",
            "status": "confirmed",
            "check_in": "2027-07-01",
            "check_out": "2027-07-04",
            "guest": _GUEST,
        },
        request_only=True,
    ),
    OpenApiExample(
        "LaterCheckOut",
        summary="The same booking again: a later check-out, with times",
        description=(
            "Sent again with the same `external_id`, the booking is updated (200): the code "
            "stays, its new window is written to every door, and the guest is emailed the new "
            "times. Datetimes need an offset."
        ),
        value={
            "external_id": "HX-10231",
            "property": "alpine-loft",
            "status": "confirmed",
            "check_in": "2027-07-01T15:00:00+02:00",
            "check_out": "2027-07-05T12:00:00+02:00",
            "guest": _GUEST,
        },
        request_only=True,
    ),
    OpenApiExample(
        "Created",
        summary="Created: the code is on its way to each door",
        value=_answer(
            status="confirmed",
            check_out="2027-07-04",
            until="2027-07-04T09:00:00Z",
            state="setting",
            updated="2026-12-03T09:12:00Z",
        ),
        response_only=True,
        status_codes=["201"],
    ),
    OpenApiExample(
        "Updated",
        summary="Updated: the new window on each door",
        value=_answer(
            status="confirmed",
            check_out="2027-07-05",
            until="2027-07-05T10:00:00Z",
            state="set",
            updated="2026-12-04T16:40:00Z",
        ),
        response_only=True,
        status_codes=["200"],
    ),
    OpenApiExample(
        "Refused",
        summary="Refused: the field is named, nothing is stored",
        value={
            "property": ["No such property."],
            "check_out": ["check_out must be after check_in."],
        },
        response_only=True,
        status_codes=["400"],
    ),
]

# The 400 answer: DRF's validation errors, a list of messages under each field's name.
VALIDATION_ERROR = OpenApiResponse(
    response={
        "type": "object",
        "additionalProperties": {"type": "array", "items": {"type": "string"}},
    },
    description="Bad input: each field named with its messages; nothing was changed.",
)
