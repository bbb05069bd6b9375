"""Put every feed due later on its own slot (bookings/ical/schedule.py), never later than it
was due: feeds whose next fetch was clustered (all pushed one interval after a restart) are
spread at once. Feeds already due stay due; the poll's cap spreads that backlog."""

from __future__ import annotations

import datetime as dt
import math

from django.conf import settings
from django.db import migrations
from django.utils import timezone

GOLDEN = 0x9E3779B97F4A7C15
HASH_SPACE = 1 << 64


def _slot_after(feed_id: int, after: dt.datetime, interval: float) -> dt.datetime:
    """bookings.ical.schedule.feed_next_slot, frozen here as migrations must be."""
    phase = (feed_id * GOLDEN % HASH_SPACE) / HASH_SPACE * interval
    rounds = math.floor((after.timestamp() - phase) / interval) + 1
    return dt.datetime.fromtimestamp(rounds * interval + phase, dt.UTC)


def spread(apps, schema_editor) -> None:
    IcalFeed = apps.get_model("bookings", "IcalFeed")
    now = timezone.now()
    interval = float(settings.LATCHKEY_ICAL_POLL_SECONDS)
    changed = []
    for feed in IcalFeed.objects.filter(next_fetch_at__gt=now).only("pk", "next_fetch_at"):
        slot = _slot_after(feed.pk, now, interval)
        if slot < feed.next_fetch_at:
            feed.next_fetch_at = slot
            changed.append(feed)
    IcalFeed.objects.bulk_update(changed, ["next_fetch_at"], batch_size=500)


class Migration(migrations.Migration):
    dependencies = [("bookings", "0007_pmsconnection_throttled_count")]

    operations = [migrations.RunPython(spread, migrations.RunPython.noop)]
