"""manage.py create_organization NAME --owner-email E [--api-key read|write]"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import transaction

from portal.services import ServiceError, api_key_create, organization_create


class Command(BaseCommand):
    help = (
        "Create an organization and its owner; prints the owner's email and password, and with "
        "--api-key an API key of that scope, shown once, on the last line."
    )

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--owner-email", required=True)
        parser.add_argument(
            "--api-key",
            choices=["read", "write"],
            help="Also create an API key of this scope (one step for scripted set-ups).",
        )

    def handle(self, *args, name, owner_email, api_key=None, **options):
        try:
            validate_email(owner_email)
        except ValidationError:
            raise CommandError(f"{owner_email!r} is not a valid email address.") from None
        try:
            with transaction.atomic():
                org, user, password = organization_create(name=name, owner_email=owner_email)
                key = api_key_create(organization=org, scope=api_key) if api_key else None
        except ServiceError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"organization: {org.slug}")
        self.stdout.write(f"email: {user.email}")
        self.stdout.write(f"password: {password or '(unchanged: existing user)'}")
        if key is not None:
            stored, raw = key
            self.stdout.write(f"{api_key} API key, prefix {stored.prefix}, shown only once:")
            self.stdout.write(raw)
