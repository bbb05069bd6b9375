"""Shared pieces of the REST API: a tenant-scoped viewset base and the trivial ping endpoint."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.permissions import request_tenant
from portal.tenancy import Tenant, scoped


class TenantViewSetMixin:
    """Every queryset goes through `scoped()`: another tenant's object is a 404."""

    model = None

    @property
    def tenant(self) -> Tenant:
        return request_tenant(self.request)

    def get_queryset(self):
        return scoped(self.model, self.tenant)

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["tenant"] = request_tenant(self.request)
        return context


class TenantModelViewSet(TenantViewSetMixin, viewsets.ModelViewSet):
    http_method_names = ["get", "post", "patch", "head", "options"]


class PingView(APIView):
    """A trivial authenticated endpoint: the baseline for the ingest benchmark."""

    @extend_schema(responses=inline_serializer("Ping", {"organization": serializers.CharField()}))
    def get(self, request):
        return Response({"organization": request_tenant(request).organization.slug})


class OrganizationSettingsSerializer(serializers.Serializer):
    name = serializers.CharField(read_only=True)
    slug = serializers.CharField(read_only=True)
    preload_hours = serializers.IntegerField(min_value=1, max_value=30 * 24, required=False)
    remove_foreign_codes = serializers.BooleanField(
        required=False,
        help_text="Remove keypad codes found on the locks that Latchkey did not create. "
        "Off (the default): they are shown, never deleted.",
    )
    backup_lead_minutes = serializers.IntegerField(
        min_value=0,
        max_value=7 * 24 * 60,
        required=False,
        help_text="A stay whose code is still not on an unreachable lock this many minutes "
        "before check-in gets a backup code.",
    )
    codes_before_payment = serializers.BooleanField(
        required=False,
        help_text="Give a code to a confirmed stay that its PMS reports as not yet paid. "
        "Off (the default): such a stay waits for the payment.",
    )


class OrganizationSettingsView(APIView):
    """The caller's own organization's settings (no id: nobody can name another's)."""

    FIELDS = (
        "preload_hours",
        "remove_foreign_codes",
        "backup_lead_minutes",
        "codes_before_payment",
    )

    @extend_schema(responses=OrganizationSettingsSerializer)
    def get(self, request):
        org = request_tenant(request).organization
        return Response(OrganizationSettingsSerializer(org).data)

    @extend_schema(request=OrganizationSettingsSerializer, responses=OrganizationSettingsSerializer)
    def patch(self, request):
        from portal.services import organization_settings_update

        incoming = OrganizationSettingsSerializer(data=request.data, partial=True)
        incoming.is_valid(raise_exception=True)
        org = organization_settings_update(
            organization=request_tenant(request).organization, **incoming.validated_data
        )
        return Response(OrganizationSettingsSerializer(org).data)
