"""REST API for Nuki Bridges: add one (its locks are imported in the background), list them."""

from __future__ import annotations

import re

from rest_framework import mixins, serializers, viewsets

from locks.integrations.bridge.services import bridge_create
from locks.models import Bridge
from portal.api import TenantViewSetMixin
from portal.services import ServiceError
from portal.sudo import api_require_sudo

HOST_RE = re.compile(r"[A-Za-z0-9.\-]{1,253}|\[[0-9A-Fa-f:]+\]")


class BridgeSerializer(serializers.ModelSerializer):
    token = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        default="",
        help_text="The bridge's API token. Leave empty to get one by pressing the bridge's button.",
    )
    lock_count = serializers.SerializerMethodField()

    class Meta:
        model = Bridge
        fields = [
            "id",
            "name",
            "host",
            "port",
            "token",
            "token_mode",
            "status",
            "last_error",
            "last_seen_at",
            "lock_count",
            "created_at",
        ]
        read_only_fields = ["id", "status", "last_error", "last_seen_at", "created_at"]
        extra_kwargs = {"port": {"min_value": 1, "max_value": 65535}}

    def get_lock_count(self, bridge) -> int:
        return bridge.locks.count()

    def validate_host(self, value: str) -> str:
        value = value.strip()
        if not HOST_RE.fullmatch(value):
            raise serializers.ValidationError("Give the bridge's IP address or host name.")
        return value


class BridgeViewSet(
    TenantViewSetMixin,
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Bridges on the LAN. Creating one imports its locks in the background; without a token,
    press the bridge's button within 30 seconds to grant one."""

    model = Bridge
    serializer_class = BridgeSerializer

    def get_queryset(self):
        return super().get_queryset().order_by("name", "pk")

    def create(self, request, *args, **kwargs):
        """Add a bridge (its API token is a credential: session callers confirm their password
        first, see portal.sudo)."""
        api_require_sudo(request)
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer):
        try:
            serializer.instance = bridge_create(
                organization=self.tenant.organization, **serializer.validated_data
            )
        except ServiceError as exc:
            raise serializers.ValidationError({exc.field or "host": [str(exc)]}) from None
