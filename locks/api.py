"""REST API for locks and the codes they hold."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from locks.drivers import available_kinds
from locks.models import Lock
from locks.selectors import lock_codes
from locks.services import VIRTUAL_CONFIG_KEYS, lock_create, lock_update
from portal.api import TenantModelViewSet
from properties.models import Property


class ScopedPropertyField(serializers.PrimaryKeyRelatedField):
    """A property id, looked up only among the caller's organization's properties."""

    def get_queryset(self):
        return Property.objects.filter(organization=self.context["tenant"].organization)


class LockSerializer(serializers.ModelSerializer):
    property = ScopedPropertyField(allow_null=True, required=False)
    driver = serializers.ChoiceField(choices=[])
    capabilities = serializers.SerializerMethodField()

    class Meta:
        model = Lock
        fields = [
            "id",
            "name",
            "property",
            "driver",
            "capabilities",
            "config",
            "capacity",
            "state",
            "battery_percent",
            "battery_critical",
            "door_state",
            "online",
            "last_seen_at",
            "created_at",
        ]
        read_only_fields = [
            "id",
            "state",
            "battery_percent",
            "battery_critical",
            "door_state",
            "online",
            "last_seen_at",
            "created_at",
        ]
        extra_kwargs = {"capacity": {"min_value": 1, "max_value": 1000}}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["driver"].choices = available_kinds()

    def get_capabilities(self, lock: Lock) -> list[str]:
        return sorted(lock.capabilities)

    def validate_driver(self, value: str) -> str:
        if self.instance is not None and value != self.instance.driver:
            raise serializers.ValidationError("A lock's driver cannot be changed.")
        return value

    def validate_config(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("Expected an object.")
        unknown = set(value) - VIRTUAL_CONFIG_KEYS
        if unknown:
            raise serializers.ValidationError(f"Unknown settings: {', '.join(sorted(unknown))}.")
        if "delay_ms" in value and not (
            isinstance(value["delay_ms"], int) and 0 <= value["delay_ms"] <= 60000
        ):
            raise serializers.ValidationError("delay_ms must be an integer from 0 to 60000.")
        if "failure_rate" in value and not (
            isinstance(value["failure_rate"], int | float) and 0 <= value["failure_rate"] <= 1
        ):
            raise serializers.ValidationError("failure_rate must be a number from 0 to 1.")
        if "offline" in value and not isinstance(value["offline"], bool):
            raise serializers.ValidationError("offline must be true or false.")
        return value


class LockCodeSerializer(serializers.Serializer):
    name = serializers.CharField()
    code = serializers.CharField()
    valid_from = serializers.DateTimeField(allow_null=True)
    valid_until = serializers.DateTimeField(allow_null=True)
    state = serializers.CharField()
    managed = serializers.BooleanField()
    holder = serializers.CharField()
    last_error = serializers.CharField()


class LockViewSet(TenantModelViewSet):
    model = Lock
    serializer_class = LockSerializer

    def get_queryset(self):
        return super().get_queryset().order_by("name", "pk")

    def perform_create(self, serializer):
        serializer.instance = lock_create(
            organization=self.tenant.organization, **serializer.validated_data
        )

    def perform_update(self, serializer):
        serializer.instance = lock_update(lock=serializer.instance, **serializer.validated_data)

    @extend_schema(responses=LockCodeSerializer(many=True))
    @action(detail=True, methods=["get"])
    def codes(self, request, pk=None):
        """The codes on the lock: ours with their sync state, and codes we did not create."""
        lock = self.get_object()
        return Response(LockCodeSerializer(lock_codes(lock=lock), many=True).data)
