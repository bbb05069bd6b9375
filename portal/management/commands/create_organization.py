"""manage.py create_organization NAME --owner-email E"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email

from portal.services import ServiceError, organization_create


class Command(BaseCommand):
    help = "Create an organization and its owner; prints the owner's email and password."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--owner-email", required=True)

    def handle(self, *args, name, owner_email, **options):
        try:
            validate_email(owner_email)
        except ValidationError:
            raise CommandError(f"{owner_email!r} is not a valid email address.") from None
        try:
            org, user, password = organization_create(name=name, owner_email=owner_email)
        except ServiceError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"organization: {org.slug}")
        self.stdout.write(f"email: {user.email}")
        self.stdout.write(f"password: {password or '(unchanged: existing user)'}")
