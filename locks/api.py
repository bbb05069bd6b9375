"""REST API for locks, the codes they hold, their actions and activity log (the API of each
integration's connection lives in its folder: locks/integrations/<kind>/api.py)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from locks.actions import ActionRefused, action_state, lock_action_request
from locks.backup import pool_usable
from locks.integrations.base import ACTIONS
from locks.integrations.registry import available_kinds
from locks.models import CommandKind, Lock, LockCommand, LockEvent
from locks.selectors import lock_codes
from locks.services import VIRTUAL_CONFIG_KEYS, lock_create, lock_update
from portal.api import TenantModelViewSet, TenantViewSetMixin
from portal.tenancy import may_see_secrets
from portal.throttling import OrganizationThrottle
from properties.models import Property


class ScopedPropertyField(serializers.PrimaryKeyRelatedField):
    """A property id, looked up only among the caller's organization's properties."""

    def get_queryset(self):
        return Property.objects.filter(organization=self.context["tenant"].organization)


class LockSerializer(serializers.ModelSerializer):
    property = ScopedPropertyField(allow_null=True, required=False)
    driver = serializers.ChoiceField(choices=[])
    capabilities = serializers.SerializerMethodField()
    backup_codes_ready = serializers.SerializerMethodField(
        help_text="Backup codes the lock confirmed holding, ready for a stay."
    )

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
            "backup_pool_size",
            "backup_codes_ready",
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
        extra_kwargs = {
            "capacity": {"min_value": 1, "max_value": 1000},
            "backup_pool_size": {"min_value": 0, "max_value": 20},
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["driver"].choices = available_kinds()

    def get_backup_codes_ready(self, lock: Lock) -> int:
        return len(pool_usable(lock=lock)) if lock.backup_pool_size else 0

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
        for flag in ("offline", "schedules"):
            if flag in value and not isinstance(value[flag], bool):
                raise serializers.ValidationError(f"{flag} must be true or false.")
        return value


class LockCodeSerializer(serializers.Serializer):
    name = serializers.CharField()
    code = serializers.CharField(
        allow_null=True, help_text="null for viewers and read keys (code_masked is then true)."
    )
    code_masked = serializers.BooleanField(
        help_text="True when the caller may not see codes: only owners, managers and write keys do."
    )
    valid_from = serializers.DateTimeField(allow_null=True)
    valid_until = serializers.DateTimeField(allow_null=True)
    state = serializers.CharField()
    managed = serializers.BooleanField()
    holder = serializers.CharField()
    last_error = serializers.CharField()


class ActionRequestSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=list(ACTIONS))


class ActionSerializer(serializers.ModelSerializer):
    action = serializers.SerializerMethodField()
    state = serializers.SerializerMethodField()

    class Meta:
        model = LockCommand
        fields = [
            "id",
            "lock",
            "action",
            "state",
            "attempts",
            "reason",
            "fix",
            "created_at",
            "finished_at",
        ]

    def get_action(self, command) -> str:
        return command.payload.get("action", "")

    def get_state(self, command) -> str:
        return action_state(command)


class EventSerializer(serializers.ModelSerializer):
    class Meta:
        model = LockEvent
        fields = ["id", "kind", "source", "message", "detail", "occurred_at"]


class EventFilter(serializers.Serializer):
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    kind = serializers.CharField(required=False, max_length=32)


class ActionThrottle(OrganizationThrottle):
    scope = "lock_actions"


class LockActionsMixin:
    @extend_schema(request=ActionRequestSerializer, responses={202: ActionSerializer})
    @action(detail=True, methods=["post"], throttle_classes=[ActionThrottle])
    def actions(self, request, pk=None):
        """Ask the lock to unlock, lock, unlatch or lock 'n' go. Answers 202 with an action
        attempt; follow it at /api/v1/actions/{id}/."""
        lock = self.get_object()
        incoming = ActionRequestSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        try:
            command = lock_action_request(lock=lock, action=incoming.validated_data["action"])
        except ActionRefused as exc:
            raise serializers.ValidationError({"action": [str(exc)]}) from None
        return Response(ActionSerializer(command).data, status=202)

    @extend_schema(parameters=[EventFilter], responses=EventSerializer(many=True))
    @action(detail=True, methods=["get"])
    def events(self, request, pk=None):
        """The lock's activity log, newest first."""
        lock = self.get_object()
        params = EventFilter(data=request.query_params)
        params.is_valid(raise_exception=True)
        f = params.validated_data
        qs = LockEvent.objects.filter(lock=lock).order_by("-occurred_at", "-pk")
        if "since" in f:
            qs = qs.filter(occurred_at__gte=f["since"])
        if "until" in f:
            qs = qs.filter(occurred_at__lt=f["until"])
        if "kind" in f:
            qs = qs.filter(kind=f["kind"])
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(EventSerializer(page, many=True).data)


class ActionViewSet(TenantViewSetMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    model = LockCommand
    serializer_class = ActionSerializer

    def get_queryset(self):
        return super().get_queryset().filter(kind=CommandKind.LOCK_ACTION)


class LockViewSet(LockActionsMixin, TenantModelViewSet):
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
        reveal = may_see_secrets(self.tenant)
        rows = [
            {**row, "code": row["code"] if reveal else None, "code_masked": not reveal}
            for row in lock_codes(lock=lock)
        ]
        return Response(LockCodeSerializer(rows, many=True).data)
