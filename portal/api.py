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
