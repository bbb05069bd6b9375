"""Organization.timezone: the zone of the times that belong to no property. An existing
organization whose properties all share one zone takes that zone (its managers have read
every stay in it); the others get the default."""

from django.db import migrations, models

import portal.models


def zone_from_properties(apps, schema_editor):
    Organization = apps.get_model("portal", "Organization")
    Property = apps.get_model("properties", "Property")
    for org in Organization.objects.all():
        zones = set(Property.objects.filter(organization=org).values_list("timezone", flat=True))
        if len(zones) == 1:
            Organization.objects.filter(pk=org.pk).update(timezone=zones.pop())


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0004_invitation"),
        ("properties", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="organization",
            name="timezone",
            field=models.CharField(
                default="Europe/Vienna",
                help_text="IANA time zone in which the pages show times that belong to no "
                "property (bridges, API keys, invitations) and the Today page's day.",
                max_length=64,
                validators=[portal.models.validate_zone],
            ),
        ),
        migrations.RunPython(zone_from_properties, migrations.RunPython.noop),
    ]
