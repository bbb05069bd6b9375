"""manage.py create_agent --organization SLUG NAME"""

from django.core.management.base import BaseCommand, CommandError

from locks.integrations.ble_agent.enrollment import agent_create
from portal.models import Organization
from portal.services import ServiceError


class Command(BaseCommand):
    help = "Create an on-site agent; prints its one-time enrollment token on the last line."

    def add_arguments(self, parser):
        parser.add_argument("--organization", required=True, help="The organization's slug.")
        parser.add_argument("name")

    def handle(self, *args, organization, name, **options):
        org = Organization.objects.filter(slug=organization).first()
        if org is None:
            raise CommandError(f"No organization with the slug {organization!r}.")
        try:
            agent, token = agent_create(organization=org, name=name)
        except ServiceError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Agent {agent.name!r} created. On the agent, run:")
        self.stdout.write("  python -m locks.agent enroll --portal <portal URL> --token <token>")
        self.stdout.write("The enrollment token works once, for 7 days:")
        self.stdout.write(token)
