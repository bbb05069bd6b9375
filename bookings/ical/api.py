"""REST API for iCal feeds: add, list, read, remove, and fetch now."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from bookings.ical.models import IcalFeed
from bookings.ical.services import feed_create, feed_delete, feed_fetch_soon
from portal.api import ID_MAX, TenantViewSetMixin
from portal.services import ServiceError
from portal.throttling import OrganizationThrottle
from properties.models import Property


class IcalFeedInputSerializer(serializers.Serializer):
    property = serializers.IntegerField(
        min_value=1, max_value=ID_MAX, help_text="The property's id."
    )
    url = serializers.CharField(
        max_length=2000,
        trim_whitespace=True,
        help_text="The calendar's export link (https://…ics). Kept encrypted, shown masked.",
    )
    name = serializers.CharField(max_length=80, required=False, allow_blank=True, default="")

    def validate_property(self, value: int) -> Property:
        org = self.context["tenant"].organization
        found = Property.objects.filter(organization=org, pk=value).first()
        if found is None:
            raise serializers.ValidationError("No such property.")
        return found


class IcalFeedSerializer(serializers.ModelSerializer):
    url = serializers.CharField(
        source="url_masked", read_only=True, help_text="Masked: the link is a secret."
    )

    class Meta:
        model = IcalFeed
        fields = [
            "id",
            "property",
            "name",
            "url",
            "status",
            "last_error",
            "failures",
            "event_count",
            "stay_count",
            "last_fetch_at",
            "last_success_at",
            "next_fetch_at",
            "created_at",
        ]
        read_only_fields = fields


class IcalFeedFilter(serializers.Serializer):
    property = serializers.IntegerField(
        required=False, min_value=1, max_value=ID_MAX, help_text="Only this property's feeds."
    )


class IcalFetchThrottle(OrganizationThrottle):
    """ "Fetch now" per organization: each one is an outgoing request to someone's server."""

    scope = "ical_fetch"


class IcalFeedViewSet(
    TenantViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    model = IcalFeed
    serializer_class = IcalFeedSerializer

    def get_queryset(self):
        qs = super().get_queryset().order_by("property_id", "pk")
        if self.action == "list":
            # A serializer, not str.isdigit(): "²" is a digit to Python but no int() (a 500).
            params = IcalFeedFilter(data=self.request.query_params)
            params.is_valid(raise_exception=True)
            if "property" in params.validated_data:
                qs = qs.filter(property_id=params.validated_data["property"])
        return qs

    @extend_schema(parameters=[IcalFeedFilter])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=IcalFeedInputSerializer, responses={201: IcalFeedSerializer})
    def create(self, request, *args, **kwargs):
        """Add a feed to a property. The URL is checked (public http/https address only) and
        the first fetch is queued."""
        incoming = IcalFeedInputSerializer(data=request.data, context=self.get_serializer_context())
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        try:
            feed = feed_create(
                organization=self.tenant.organization,
                property=data["property"],
                url=data["url"],
                name=data["name"],
            )
        except ServiceError as exc:
            raise serializers.ValidationError({exc.field or "url": [str(exc)]}) from None
        return Response(IcalFeedSerializer(feed).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, *args, **kwargs):
        """Remove a feed. Its stays and their codes are kept."""
        feed_delete(feed=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={202: IcalFeedSerializer})
    @action(detail=True, methods=["post"], throttle_classes=[IcalFetchThrottle])
    def fetch(self, request, pk=None):
        """Fetch the feed now (rate-limited per organization). Answers 202; the feed's status
        shows the outcome once done."""
        feed = self.get_object()
        feed_fetch_soon(feed=feed)
        return Response(IcalFeedSerializer(feed).data, status=status.HTTP_202_ACCEPTED)
