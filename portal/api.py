"""Shared pieces of the REST API: a tenant-scoped viewset base and the trivial ping endpoint."""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.models import Organization
from portal.permissions import request_tenant
from portal.services import organization_retention_update, organization_settings_update
from portal.tenancy import Tenant, scoped
from portal.times import zone

# The largest id a bigint primary key holds: id filters are bounded by it, so a longer number
# is a 400 rather than a database error.
ID_MAX = 2**63 - 1


class TenantViewSetMixin:
    """Every queryset goes through `scoped()`: another tenant's object is a 404."""

    model = None

    @property
    def tenant(self) -> Tenant:
        return request_tenant(self.request)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no tenant, no rows
            return self.model.objects.none()
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


def _retention_days(help_text: str) -> serializers.IntegerField:
    """One retention period (days): the three share their bounds with the Settings form."""
    return serializers.IntegerField(
        min_value=1, max_value=Organization.RETENTION_MAX_DAYS, required=False, help_text=help_text
    )


class OrganizationSettingsSerializer(serializers.Serializer):
    name = serializers.CharField(read_only=True)
    slug = serializers.CharField(read_only=True)
    preload_hours = serializers.IntegerField(min_value=1, max_value=30 * 24, required=False)
    timezone = serializers.CharField(
        max_length=64,
        required=False,
        help_text="IANA time zone of the times that belong to no property (bridges, API keys, "
        "invitations) and of the manager pages' day. Default Europe/Vienna.",
    )
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
    retention_raw_days = _retention_days(
        "Raw PMS deliveries, webhook receipts and finished agent jobs are deleted "
        "after this many days (default 30). Changed by owners only."
    )
    retention_lock_event_days = _retention_days(
        "The locks' activity log and finished commands are deleted after this many "
        "days (default 396, about 13 months). Changed by owners only."
    )
    retention_guest_days = _retention_days(
        "Guests' name, email and phone are removed this many days after check-out "
        "(default 90). Changed by owners only."
    )

    def validate_timezone(self, value: str) -> str:
        try:
            zone(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None
        return value


class OrganizationSettingsView(APIView):
    """The caller's own organization's settings (no id: nobody can name another's)."""

    FIELDS = (
        "preload_hours",
        "remove_foreign_codes",
        "backup_lead_minutes",
        "codes_before_payment",
        "timezone",
    )

    @extend_schema(responses=OrganizationSettingsSerializer)
    def get(self, request):
        org = request_tenant(request).organization
        return Response(OrganizationSettingsSerializer(org).data)

    @extend_schema(request=OrganizationSettingsSerializer, responses=OrganizationSettingsSerializer)
    def patch(self, request):
        incoming = OrganizationSettingsSerializer(data=request.data, partial=True)
        incoming.is_valid(raise_exception=True)
        tenant = request_tenant(request)
        data = dict(incoming.validated_data)
        retention = {f: data.pop(f) for f in Organization.RETENTION_FIELDS if f in data}
        if retention and tenant.label != "owner":  # a privacy policy: owners, not keys
            raise PermissionDenied("Only owners can change the retention settings.")
        with transaction.atomic():
            org = organization_settings_update(organization=tenant.organization, **data)
            org = organization_retention_update(organization=org, **retention)
        return Response(OrganizationSettingsSerializer(org).data)
