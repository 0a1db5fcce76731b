# UpsAccount moves here from fulfilment: the table stays as it is (state only).

from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("fulfilment", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="UpsAccount",
                    fields=[
                        ("ups_account", models.BigIntegerField(primary_key=True, serialize=False)),
                        ("exists", models.BooleanField()),
                        ("seqnum", models.BigIntegerField()),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                    ],
                    options={"db_table": "fulfilment_upsaccount"},
                ),
            ],
            database_operations=[],
        ),
    ]
