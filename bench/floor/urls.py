"""The portal's URLs plus /api/v1/floor/: the least a booking request can do (see
bench/ingest_floor.py). Loaded only by that benchmark's server."""

from django.db import transaction
from django.urls import path
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from bookings.api import BookingInputSerializer, booking_body
from bookings.models import Booking
from portal.permissions import request_tenant
from portal.urls import urlpatterns as portal_urlpatterns


class FloorView(APIView):
    """Same authentication, throttling, validation (with the property lookup), one INSERT of
    the booking in a transaction, one broker message after commit, the same answer's shape.
    No grant, no code, no lock rows, no outbox: what every booking costs before it plans."""

    def post(self, request):
        incoming = BookingInputSerializer(
            data=request.data, context={"tenant": request_tenant(request)}
        )
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        org = request_tenant(request).organization
        booking = Booking(
            organization=org, source="floor", external_id=data.external_id, **data.fields()
        )
        with transaction.atomic():
            booking.save(force_insert=True)  # as bookings.services inserts a new booking

            def publish() -> None:
                from locks.tasks import run_commands

                run_commands.apply_async(([0, 0],))  # no worker runs; ids never looked up

            transaction.on_commit(publish)
        return Response(booking_body(booking, []), status=status.HTTP_201_CREATED)


urlpatterns = [path("api/v1/floor/", FloorView.as_view()), *portal_urlpatterns]
