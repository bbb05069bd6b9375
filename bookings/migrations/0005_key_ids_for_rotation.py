from django.db import migrations, models


class Migration(migrations.Migration):
    """Key ids for key rotation (portal.crypto): the ring key a stay link was derived with, and
    room for the `<key id>:` prefix of a step-up code's keyed digest."""

    dependencies = [
        ("bookings", "0004_booking_anonymised_at"),
    ]

    operations = [
        migrations.AddField(
            model_name="staylink",
            name="key_id",
            field=models.CharField(blank=True, default="", max_length=8),
        ),
        migrations.AlterField(
            model_name="stepupchallenge",
            name="secret_hash",
            field=models.CharField(blank=True, default="", max_length=80),
        ),
    ]
