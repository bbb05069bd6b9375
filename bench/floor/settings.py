"""Settings for bench/ingest_floor.py: the portal's own, plus one endpoint that exists only
for that experiment (never in the portal's URLconf)."""

from portal.settings import *  # noqa: F403

ROOT_URLCONF = "floor.urls"
