# UpsAccount is the carrier app's now (carrier 0001): the table stays (state only).

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("fulfilment", "0001_initial"),
        ("carrier", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="UpsAccount")],
            database_operations=[],
        ),
    ]
