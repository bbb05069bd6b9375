# A PMS connection counts the deliveries refused for its rate (LATCHKEY_PMS_HOOK_RATE).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('bookings', '0006_icalfeed_status_capped'),
    ]

    operations = [
        migrations.AddField(
            model_name='pmsconnection',
            name='throttled_count',
            field=models.PositiveIntegerField(default=0, help_text='Deliveries refused for going over LATCHKEY_PMS_HOOK_RATE.'),
        ),
    ]
