# The packages waiting for a truck, per warehouse; the few with a redirect unanswered.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("shipments", "0009_account_moved_to_accounts"),
        ("ups_accounts", "0001_initial"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="package",
            index=models.Index(fields=["status", "warehouse", "truck"], name="package_waiting"),
        ),
        migrations.AddIndex(
            model_name="package",
            index=models.Index(
                condition=models.Q(("redirect_seqnum__isnull", False)),
                fields=["redirect_seqnum"],
                name="package_redirect",
            ),
        ),
    ]
