# Account is the accounts app's now (ups_accounts 0001): the table stays, and so does
# the packages' foreign key to it (state only).

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("shipments", "0008_route_position_redirect_confirmed"),
        ("ups_accounts", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="package",
                    name="account",
                    field=models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="packages",
                        to="ups_accounts.account",
                    ),
                ),
                migrations.DeleteModel(name="Account"),
            ],
            database_operations=[],
        ),
    ]
