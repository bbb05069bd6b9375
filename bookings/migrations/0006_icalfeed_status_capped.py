# An iCal feed over LATCHKEY_ICAL_MAX_STAYS reports it in its status.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('bookings', '0005_key_ids_for_rotation'),
    ]

    operations = [
        migrations.AlterField(
            model_name='icalfeed',
            name='status',
            field=models.CharField(choices=[('never', 'Not fetched yet'), ('ok', 'Fetched'), ('capped', 'Fetched, but over the cap: later stays not imported'), ('not_modified', 'Unchanged since the last fetch'), ('empty', 'Suspiciously empty: nothing changed'), ('failed', 'Failed')], default='never', max_length=14),
        ),
    ]
