"""Bearer API key authentication for the REST API."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from portal.models import ApiKey
from portal.tenancy import tenant_from_key
from portal.throttling import note_failed_authentication


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer lk_<prefix>_<secret>`; the key's hash is compared in constant time.

    The authenticated "user" is None and `request.auth` is the Tenant; views never look at users.
    """

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, raw = header.partition(" ")
        if scheme != self.keyword or not raw.strip():
            raise exceptions.AuthenticationFailed("Use the header Authorization: Bearer <api key>.")
        raw = raw.strip()
        prefix = ApiKey.split(raw)
        key = None
        if prefix is not None:
            key = (
                ApiKey.objects.select_related("organization")
                .filter(prefix=prefix, revoked_at__isnull=True)
                .first()
            )
        if key is None or not key.matches(raw):
            if note_failed_authentication(request):
                raise exceptions.Throttled(detail="Too many invalid API keys from this address.")
            raise exceptions.AuthenticationFailed("Invalid API key.")
        now = timezone.now()
        if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        return (None, tenant_from_key(key))

    def authenticate_header(self, request) -> str:
        return self.keyword


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes the API key (drf-spectacular finds it by target)."""

    target_class = ApiKeyAuthentication
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An organization's API key: `Authorization: Bearer <key>`.",
        }
