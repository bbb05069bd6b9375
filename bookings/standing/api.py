"""REST API for standing access (cleaning staff, owners): recurring weekday windows."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from bookings.models import StandingAccess
from bookings.standing.services import (
    DAY_NAMES,
    standing_access_create,
    standing_access_update,
    weekdays_mask,
    weekdays_names,
)
from locks.models import AccessCode, Lock
from portal.api import TenantModelViewSet
from portal.services import ServiceError
from portal.tenancy import may_see_secrets
from properties.models import Property


class _Scoped(serializers.PrimaryKeyRelatedField):
    """An id looked up only among the caller's organization's rows."""

    model = None

    def get_queryset(self):
        return self.model.objects.filter(organization=self.context["tenant"].organization)


class _ScopedProperty(_Scoped):
    model = Property


class _ScopedLock(_Scoped):
    model = Lock


class WeekdaysField(serializers.ListField):
    child = serializers.ChoiceField(choices=DAY_NAMES)

    def to_internal_value(self, data):
        names = super().to_internal_value(data)
        if not names:
            raise serializers.ValidationError("Choose at least one weekday.")
        return weekdays_mask(names)

    def to_representation(self, value):
        return weekdays_names(value)


class StandingAccessSerializer(serializers.ModelSerializer):
    property = _ScopedProperty()
    locks = _ScopedLock(many=True, required=False, help_text="Empty: every door of the property.")
    weekdays = WeekdaysField(help_text='Days, e.g. ["mon", "thu"].')
    access = serializers.SerializerMethodField()
    code = serializers.SerializerMethodField(
        help_text="null for viewers and read keys (code_masked is then true)."
    )
    code_masked = serializers.SerializerMethodField(
        help_text="True when the caller may not see codes: only owners, managers and write keys do."
    )

    class Meta:
        model = StandingAccess
        fields = [
            "id",
            "name",
            "role",
            "property",
            "locks",
            "weekdays",
            "from_time",
            "until_time",
            "starts_on",
            "ends_on",
            "active",
            "code",
            "code_masked",
            "access",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_code(self, access: StandingAccess) -> str | None:
        return access.code if may_see_secrets(self.context.get("tenant")) else None

    def get_code_masked(self, access: StandingAccess) -> bool:
        return not may_see_secrets(self.context.get("tenant"))

    def validate_property(self, value):
        if self.instance is not None and value != self.instance.property:
            raise serializers.ValidationError(
                "Standing access cannot move to another property; create a new one."
            )
        return value

    @extend_schema_field(serializers.ListField(child=serializers.DictField()))
    def get_access(self, access: StandingAccess) -> list[dict]:
        codes = (
            AccessCode.objects.filter(holder=access.holder, wanted=True)
            .select_related("lock")
            .order_by("lock__name")
        )
        return [
            {
                "lock": ac.lock_id,
                "lock_name": ac.lock.name,
                "valid_from": ac.valid_from,
                "valid_until": ac.valid_until,
                "weekdays_on_lock": ac.spec().limited,
                "state": ac.state,
                "last_error": ac.last_error,
            }
            for ac in codes
        ]


def _field_error(exc: ServiceError) -> serializers.ValidationError:
    return serializers.ValidationError({exc.field or "non_field_errors": [str(exc)]})


class StandingAccessViewSet(TenantModelViewSet):
    """Cleaning staff and owners: a code on a property's doors on chosen weekdays between two
    local times. Deactivate with PATCH {"active": false}: the code leaves the locks."""

    model = StandingAccess
    serializer_class = StandingAccessSerializer

    def get_queryset(self):
        return (
            super()
            .get_queryset()
            .select_related("property", "organization")
            .prefetch_related("locks")
            .order_by("property_id", "name", "pk")
        )

    def perform_create(self, serializer):
        try:
            serializer.instance = standing_access_create(
                organization=self.tenant.organization, **serializer.validated_data
            )
        except ServiceError as exc:
            raise _field_error(exc) from None

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("property", None)
        try:
            serializer.instance = standing_access_update(access=serializer.instance, **data)
        except ServiceError as exc:
            raise _field_error(exc) from None
