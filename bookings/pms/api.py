"""REST API for PMS connections: create (the secret is shown in the answer), list, rename,
delete; reveal or replace the secret (owners and managers only); listing mappings; recent
events."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import (
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from bookings.pms import services
from bookings.pms.models import PmsConnection, PmsEvent, PmsKind, PmsListingMapping
from portal.api import ID_MAX, TenantViewSetMixin
from portal.services import ServiceError
from portal.sudo import api_require_sudo
from portal.tenancy import may_see_secrets
from properties.models import Property

AUTH_HELP = {
    PmsKind.HOSTAWAY: "In Hostaway's unified webhook, set a login of your choice and this "
    "secret as the password.",
    PmsKind.GUESTY: "Paste the webhook signing secret Guesty gives you (whsec_…) as the secret.",
    PmsKind.SMOOBU: "Smoobu does not sign webhooks: keep the URL private, it is the credential.",
    PmsKind.LODGIFY: "Paste the secret Lodgify returns when you subscribe the webhook.",
    PmsKind.HOSPITABLE: "Paste the webhook secret Hospitable gave you.",
    PmsKind.GENERIC: "Sign the body: X-Latchkey-Signature: sha256=<hex HMAC-SHA256 with this "
    "secret>, or use basic auth with the secret as the password.",
}


def webhook_url(connection: PmsConnection) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("pms-webhook", args=[connection.webhook_key])


def _raise(exc: ServiceError):
    raise ValidationError({exc.field or "non_field_errors": [str(exc)]})


class PmsConnectionSerializer(serializers.ModelSerializer):
    webhook_url = serializers.SerializerMethodField(
        help_text="null for viewers and read keys (webhook_url_masked is then true): the URL "
        "names the connection and, for Smoobu, is its only credential."
    )
    webhook_url_masked = serializers.SerializerMethodField(
        help_text="True when the caller may not see credentials: only owners, managers and "
        "write keys do."
    )
    auth = serializers.SerializerMethodField()

    class Meta:
        model = PmsConnection
        fields = [
            "id",
            "kind",
            "name",
            "webhook_url",
            "webhook_url_masked",
            "auth",
            "created_at",
            "last_event_at",
            "rejected_count",
            "duplicate_count",
            "throttled_count",
        ]
        read_only_fields = [f for f in fields if f != "name"]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_webhook_url(self, obj) -> str | None:
        return webhook_url(obj) if may_see_secrets(self.context.get("tenant")) else None

    def get_webhook_url_masked(self, obj) -> bool:
        return not may_see_secrets(self.context.get("tenant"))

    def get_auth(self, obj) -> str:
        return AUTH_HELP[obj.kind]


class PmsConnectionCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=PmsKind.choices)
    name = serializers.CharField(max_length=80, required=False, allow_blank=True, default="")
    secret = serializers.CharField(
        required=False, write_only=True, help_text="The PMS's own signing secret, if it issues one."
    )


class SecretSerializer(serializers.Serializer):
    rotate = serializers.BooleanField(required=False, default=False)
    secret = serializers.CharField(required=False, help_text="Set the PMS-issued secret.")


class MappingSerializer(serializers.Serializer):
    listing_id = serializers.CharField(max_length=120)
    property = serializers.IntegerField(
        allow_null=True, min_value=1, max_value=ID_MAX, help_text="null removes the mapping."
    )


@extend_schema_serializer(component_name="PmsEvent")  # locks.api has an "Event" too
class EventSerializer(serializers.ModelSerializer):
    class Meta:
        model = PmsEvent
        fields = [
            "id",
            "received_at",
            "processed_at",
            "outcome",
            "error",
            "external_id",
            "listing_id",
            "booking",
        ]


class PmsConnectionViewSet(
    TenantViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    model = PmsConnection
    serializer_class = PmsConnectionSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return super().get_queryset().order_by("pk")

    def perform_destroy(self, instance):
        services.connection_delete(connection=instance)

    @extend_schema(
        request=PmsConnectionCreateSerializer,
        responses={
            201: inline_serializer(
                "PmsConnectionCreated",
                {"secret": serializers.CharField(), "webhook_url": serializers.CharField()},
            )
        },
    )
    def create(self, request, *args, **kwargs):
        """Create a connection. The answer carries the webhook URL and the secret (a new
        credential: session callers confirm their password first, see portal.sudo)."""
        api_require_sudo(request)
        incoming = PmsConnectionCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        try:
            connection = services.connection_create(
                organization=self.tenant.organization, **incoming.validated_data
            )
        except ServiceError as exc:
            _raise(exc)
        shown = PmsConnectionSerializer(connection, context=self.get_serializer_context()).data
        body = {**shown, "secret": connection.secret}
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=SecretSerializer,
        responses=inline_serializer("PmsSecret", {"secret": serializers.CharField()}),
    )
    @action(detail=True, methods=["post"])
    def secret(self, request, pk=None):
        """Reveal the secret (for the copy button), rotate it, or set the PMS-issued one.
        POST so that read-only roles and keys are refused (403); session callers confirm
        their password first (403 sudo_required, see portal.sudo)."""
        connection = self.get_object()
        api_require_sudo(request)
        incoming = SecretSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        given = incoming.validated_data.get("secret")
        if given is not None or incoming.validated_data["rotate"]:
            try:
                services.connection_secret_set(connection=connection, secret=given)
            except ServiceError as exc:
                _raise(exc)
        return Response({"secret": connection.secret})

    @extend_schema(methods=["GET"], responses=MappingSerializer(many=True), request=None)
    @extend_schema(methods=["POST"], request=MappingSerializer, responses=MappingSerializer)
    @action(detail=True, methods=["get", "post"])
    def mappings(self, request, pk=None):
        """Listing -> property links. POST {listing_id, property} links (property null
        unlinks); events that waited for the listing are then applied."""
        connection = self.get_object()
        if request.method == "GET":
            rows = PmsListingMapping.objects.filter(connection=connection).order_by("listing_id")
            return Response([{"listing_id": m.listing_id, "property": m.property_id} for m in rows])
        incoming = MappingSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        prop = None
        if data["property"] is not None:
            prop = Property.objects.filter(
                organization=self.tenant.organization, pk=data["property"]
            ).first()
            if prop is None:
                raise ValidationError({"property": ["No such property."]})
        try:
            services.mapping_set(
                connection=connection, listing_id=data["listing_id"], property=prop
            )
        except ServiceError as exc:
            _raise(exc)
        return Response({"listing_id": data["listing_id"].strip(), "property": data["property"]})

    @extend_schema(responses=EventSerializer(many=True))
    @action(detail=True, methods=["get"])
    def events(self, request, pk=None):
        """The latest deliveries and what became of them, newest first."""
        connection = self.get_object()
        qs = PmsEvent.objects.filter(connection=connection).order_by("-received_at", "-pk")
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(EventSerializer(page, many=True).data)
