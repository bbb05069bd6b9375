"""REST API for bookings: an idempotent upsert, and reads with the access each stay has."""

from __future__ import annotations

import datetime as dt

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from bookings.api_examples import BOOKING_CREATE_EXAMPLES, VALIDATION_ERROR
from bookings.fields import DateOrDateTimeField
from bookings.models import Booking, BookingStatus, Language
from bookings.selectors import access_by_booking
from bookings.services import BookingData, booking_upsert, stay_dates_check
from portal.api import ID_MAX, TenantViewSetMixin
from portal.services import ServiceError
from portal.tenancy import Tenant, may_see_secrets, scoped
from portal.validators import refuse_control_characters
from properties.models import Property


class GuestSerializer(serializers.Serializer):
    name = serializers.CharField(
        max_length=120, required=False, allow_blank=True, default="",
        validators=[refuse_control_characters],
    )  # fmt: skip
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")
    language = serializers.ChoiceField(choices=Language.choices, required=False, default="en")
    phone_last4 = serializers.CharField(read_only=True)
    nuki_email = serializers.EmailField(
        required=False,
        allow_blank=True,
        default="",
        help_text="The guest's Nuki account, for app access where the property offers it "
        "(otherwise the email above is invited).",
    )


def _property(tenant: Tenant, **lookup) -> Property | None:
    """The tenant's property matching `lookup` (an id or an external_ref), or None."""
    if "pk" in lookup and not 0 < lookup["pk"] < 2**63:
        return None  # no such id (and the database would refuse the number)
    return next(iter(scoped(Property, tenant).filter(**lookup)[:1]), None)


class BookingInputSerializer(serializers.Serializer):
    external_id = serializers.CharField(max_length=120)
    property = serializers.JSONField(help_text="The property's id, or its external_ref.")
    status = serializers.ChoiceField(choices=BookingStatus.choices)
    check_in = DateOrDateTimeField()
    check_out = DateOrDateTimeField()
    check_in_time = serializers.TimeField(required=False, allow_null=True, default=None)
    check_out_time = serializers.TimeField(required=False, allow_null=True, default=None)
    guest = GuestSerializer(required=False)

    def validate_property(self, value) -> Property:
        tenant = self.context["tenant"]
        found = None
        if isinstance(value, int) and not isinstance(value, bool):
            found = _property(tenant, pk=value)
        elif isinstance(value, str) and value.strip():
            found = _property(tenant, external_ref=value.strip())
            digits = value.strip()
            # ASCII digits only ("²".isdigit() is true) and at most 18 of them: int() of a
            # long string raises, and ids stop at 2**63 anyway.
            if found is None and digits.isascii() and digits.isdigit() and len(digits) < 19:
                found = _property(tenant, pk=int(digits))
        else:
            raise serializers.ValidationError("Give the property's id or its external_ref.")
        if found is None:
            raise serializers.ValidationError("No such property.")
        return found

    def validate(self, attrs):
        check_in, check_out = attrs["check_in"], attrs["check_out"]
        in_at = check_in if isinstance(check_in, dt.datetime) else None
        out_at = check_out if isinstance(check_out, dt.datetime) else None
        in_day = check_in.date() if in_at else check_in
        out_day = check_out.date() if out_at else check_out
        try:  # before any time zone arithmetic: year 1 or 9999 would overflow it
            stay_dates_check(check_in=in_day, check_out=out_day)
        except ServiceError as exc:
            raise ValidationError({exc.field: [str(exc)]}) from None
        if in_at and out_at:
            ok = out_at > in_at
        else:
            ok = out_day > in_day if not (in_at or out_at) else out_day >= in_day
        if not ok:
            raise ValidationError({"check_out": "check_out must be after check_in."})
        guest = attrs.get("guest") or {}
        return BookingData(
            external_id=attrs["external_id"].strip(),
            property=attrs["property"],
            status=attrs["status"],
            check_in=in_day,
            check_out=out_day,
            check_in_time=attrs.get("check_in_time"),
            check_out_time=attrs.get("check_out_time"),
            check_in_at=in_at,
            check_out_at=out_at,
            guest_name=guest.get("name", ""),
            guest_email=guest.get("email", ""),
            guest_phone=guest.get("phone", ""),
            guest_language=guest.get("language", "en"),
            guest_nuki_email=guest.get("nuki_email", ""),
        )


class AccessSerializer(serializers.Serializer):
    lock = serializers.IntegerField()
    lock_name = serializers.CharField()
    kind = serializers.CharField(help_text='"keypad" (the code) or "app" (Nuki app access).')
    code = serializers.CharField(
        allow_null=True, help_text="null for viewers and read keys (code_masked is then true)."
    )
    code_masked = serializers.BooleanField(
        help_text="True when the caller may not see codes: only owners, managers and write keys do."
    )
    valid_from = serializers.DateTimeField()
    valid_until = serializers.DateTimeField()
    state = serializers.CharField()
    last_error = serializers.CharField()


class BookingSerializer(serializers.ModelSerializer):
    guest = serializers.SerializerMethodField()
    access = serializers.SerializerMethodField()

    class Meta:
        model = Booking
        fields = [
            "id",
            "external_id",
            "source",
            "status",
            "property",
            "check_in",
            "check_out",
            "check_in_time",
            "check_out_time",
            "guest",
            "reservation_url",
            "access",
            "created_at",
            "updated_at",
        ]

    @extend_schema_field(GuestSerializer)
    def get_guest(self, booking: Booking) -> dict:
        return {
            "name": booking.guest_name,
            "email": booking.guest_email,
            "phone": booking.guest_phone,
            "phone_last4": booking.guest_phone_last4,
            "language": booking.guest_language,
            "nuki_email": booking.guest_nuki_email,
        }

    @extend_schema_field(AccessSerializer(many=True))
    def get_access(self, booking: Booking) -> list[dict]:
        access = self.context.get("access")
        if access is None:
            access = access_by_booking([booking])
        reveal = may_see_secrets(self.context.get("tenant"))
        rows = [masked_access(row, reveal=reveal) for row in access.get(booking.pk, [])]
        return AccessSerializer(rows, many=True).data


def masked_access(row: dict, *, reveal: bool) -> dict:
    """An access row as the caller may see it: the code, or null with code_masked."""
    return {**row, "code": row["code"] if reveal else None, "code_masked": not reveal}


def _access_row(ac) -> dict:
    return {
        "lock": ac.lock_id,
        "lock_name": ac.lock.name,
        "kind": ac.kind,
        "code": ac.code,
        "valid_from": ac.valid_from,
        "valid_until": ac.valid_until,
        "state": ac.state,
        "last_error": ac.last_error,
    }


_DATETIME = serializers.DateTimeField()


def booking_body(booking: Booking, access: list[dict], *, reveal: bool = False) -> dict:
    """The booking as the API shows it (BookingSerializer documents the same shape). Codes
    only with `reveal` (may_see_secrets): masked is the default, so a new caller fails closed.

    Built by hand: a ModelSerializer rebuilds its fields on every instance, which cost more
    than all the booking's database work together on the ingest path."""
    dt_repr = _DATETIME.to_representation
    return {
        "id": booking.pk,
        "external_id": booking.external_id,
        "source": booking.source,
        "status": booking.status,
        "property": booking.property_id,
        "check_in": booking.check_in.isoformat(),
        "check_out": booking.check_out.isoformat(),
        "check_in_time": booking.check_in_time.isoformat() if booking.check_in_time else None,
        "check_out_time": booking.check_out_time.isoformat() if booking.check_out_time else None,
        "guest": {
            "name": booking.guest_name,
            "email": booking.guest_email,
            "phone": booking.guest_phone,
            "phone_last4": booking.guest_phone_last4,
            "language": booking.guest_language,
            "nuki_email": booking.guest_nuki_email,
        },
        "reservation_url": booking.reservation_url,
        "access": [
            {
                **masked_access(row, reveal=reveal),
                "valid_from": dt_repr(row["valid_from"]),
                "valid_until": dt_repr(row["valid_until"]),
            }
            for row in access
        ],
        "created_at": dt_repr(booking.created_at),
        "updated_at": dt_repr(booking.updated_at),
    }


class BookingFilter(serializers.Serializer):
    property = serializers.IntegerField(required=False, min_value=1, max_value=ID_MAX)
    status = serializers.ChoiceField(choices=BookingStatus.choices, required=False)
    start = serializers.DateField(required=False, help_text="Stays that end on or after this day.")
    end = serializers.DateField(required=False, help_text="Stays that begin on or before this day.")


class BookingViewSet(
    TenantViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    model = Booking
    serializer_class = BookingSerializer

    def get_queryset(self):
        qs = super().get_queryset().order_by("check_in", "pk")
        if self.action != "list":
            return qs
        params = BookingFilter(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        f = params.validated_data
        if "property" in f:
            qs = qs.filter(property_id=f["property"])
        if "status" in f:
            qs = qs.filter(status=f["status"])
        if "start" in f:
            qs = qs.filter(check_out__gte=f["start"])
        if "end" in f:
            qs = qs.filter(check_in__lte=f["end"])
        return qs

    @extend_schema(parameters=[BookingFilter])
    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        access = access_by_booking(page)
        reveal = may_see_secrets(self.tenant)
        return self.get_paginated_response(
            [booking_body(b, access.get(b.pk, []), reveal=reveal) for b in page]
        )

    def retrieve(self, request, *args, **kwargs):
        booking = self.get_object()
        access = access_by_booking([booking]).get(booking.pk, [])
        return Response(booking_body(booking, access, reveal=may_see_secrets(self.tenant)))

    @extend_schema(
        request=BookingInputSerializer,
        responses={200: BookingSerializer, 201: BookingSerializer, 400: VALIDATION_ERROR},
        examples=BOOKING_CREATE_EXAMPLES,
    )
    def create(self, request, *args, **kwargs):
        """Create or update a booking by external_id: 201 when created, 200 when updated."""
        incoming = BookingInputSerializer(data=request.data, context=self.get_serializer_context())
        incoming.is_valid(raise_exception=True)
        booking, created, _changed = booking_upsert(
            organization=self.tenant.organization, source="api", data=incoming.validated_data
        )
        if created and getattr(booking, "_access", None) is not None:
            # A new stay's codes were just written: answer from them, without reading back.
            access = [_access_row(ac) for ac in booking._access]
        else:
            access = access_by_booking([booking]).get(booking.pk, [])
        body = booking_body(booking, access, reveal=may_see_secrets(self.tenant))
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
