"""manage.py create_api_key --organization SLUG --scope read|write"""

from django.core.management.base import BaseCommand, CommandError

from portal.models import Organization
from portal.services import api_key_create


class Command(BaseCommand):
    help = "Create an organization API key. The key is printed once, on the last line."

    def add_arguments(self, parser):
        parser.add_argument("--organization", required=True, help="The organization's slug.")
        parser.add_argument("--scope", required=True, choices=["read", "write"])
        parser.add_argument("--name", default="")

    def handle(self, *args, organization, scope, name, **options):
        org = Organization.objects.filter(slug=organization).first()
        if org is None:
            raise CommandError(f"No organization with the slug {organization!r}.")
        key, raw = api_key_create(organization=org, scope=scope, name=name)
        self.stdout.write(f"Created a {scope} key with prefix {key.prefix}; it is shown only once:")
        self.stdout.write(raw)
