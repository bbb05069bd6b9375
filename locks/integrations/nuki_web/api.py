"""REST API for the organization's Nuki Web connection."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from locks.integrations.nuki_web.connection import connection_from_api_token
from locks.models import NukiWebConnection
from portal.permissions import request_tenant
from portal.sudo import api_require_sudo


class NukiWebTokenSerializer(serializers.Serializer):
    api_token = serializers.CharField(
        write_only=True, min_length=10, max_length=500,
        help_text="A Nuki Web API token (Nuki Web → API), for operators without OAuth.",
    )  # fmt: skip


class NukiWebConnectionSerializer(serializers.ModelSerializer):
    class Meta:
        model = NukiWebConnection
        fields = ["kind", "status", "last_error", "expires_at", "created_at"]


class NukiWebConnectionView(APIView):
    """The organization's Nuki Web connection: read it, or connect with an API token."""

    @extend_schema(responses=NukiWebConnectionSerializer)
    def get(self, request):
        conn = NukiWebConnection.objects.filter(
            organization=request_tenant(request).organization
        ).first()
        if conn is None:
            return Response({"detail": "Not connected to Nuki Web."}, status=404)
        return Response(NukiWebConnectionSerializer(conn).data)

    @extend_schema(request=NukiWebTokenSerializer, responses={201: NukiWebConnectionSerializer})
    def post(self, request):
        """Connect with an API token (a credential: session callers confirm their password
        first, see portal.sudo)."""
        api_require_sudo(request)
        incoming = NukiWebTokenSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        conn = connection_from_api_token(
            organization=request_tenant(request).organization,
            api_token=incoming.validated_data["api_token"],
        )
        return Response(NukiWebConnectionSerializer(conn).data, status=201)
