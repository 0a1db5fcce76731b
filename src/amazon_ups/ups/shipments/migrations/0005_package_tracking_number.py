# Three migrations, not one: a callable default on AddField is called once for every
# existing row (they would all share one number), and PostgreSQL refuses to alter a
# table in the transaction that has just updated its rows.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('shipments', '0004_lifecycle'),
    ]

    operations = [
        migrations.AddField(
            model_name='package',
            name='tracking_number',
            field=models.CharField(editable=False, max_length=16, null=True),
        ),
    ]
