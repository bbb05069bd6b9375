"""REST API for properties."""

from __future__ import annotations

from rest_framework import serializers

from portal.api import TenantModelViewSet
from portal.validators import refuse_control_characters
from properties.models import Property
from properties.services import external_ref_in_use, property_create, property_update


class PropertySerializer(serializers.ModelSerializer):
    class Meta:
        model = Property
        fields = [
            "id",
            "name",
            "timezone",
            "check_in_time",
            "check_out_time",
            "lead_minutes",
            "lag_minutes",
            "cleaning_minutes",
            "external_ref",
            "address",
            "house_instructions",
            "step_up_verifier",
            "step_up_from",
            "step_up_until",
            "app_access",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]
        extra_kwargs = {
            "lead_minutes": {"max_value": 7 * 24 * 60},
            "lag_minutes": {"max_value": 7 * 24 * 60},
            "cleaning_minutes": {"max_value": 24 * 60},
        }

    def validate(self, attrs):
        def value(name):
            if name in attrs:
                return attrs[name]
            return getattr(self.instance, name, None) if self.instance is not None else None

        start, end = value("step_up_from"), value("step_up_until")
        if (start is None) != (end is None):
            missing = "step_up_until" if end is None else "step_up_from"
            raise serializers.ValidationError(
                {missing: ["Give both step-up times, or neither (always)."]}
            )
        return attrs

    def validate_name(self, value: str) -> str:
        refuse_control_characters(value)  # the subject of every guest email for the property
        return value

    def validate_external_ref(self, value: str) -> str:
        value = value.strip()
        if not value:
            return value
        tenant = self.context["tenant"]
        exclude_pk = self.instance.pk if self.instance is not None else None
        if external_ref_in_use(
            organization=tenant.organization, value=value, exclude_pk=exclude_pk
        ):
            raise serializers.ValidationError("Another property already uses this external_ref.")
        return value


class PropertyViewSet(TenantModelViewSet):
    model = Property
    serializer_class = PropertySerializer

    def get_queryset(self):
        return super().get_queryset().order_by("name", "pk")

    def perform_create(self, serializer):
        serializer.instance = property_create(
            organization=self.tenant.organization, **serializer.validated_data
        )

    def perform_update(self, serializer):
        serializer.instance = property_update(
            property=serializer.instance, **serializer.validated_data
        )
