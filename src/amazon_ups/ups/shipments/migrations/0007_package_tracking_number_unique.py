from django.db import migrations, models

import amazon_ups.ups.shipments.tracking


class Migration(migrations.Migration):

    dependencies = [
        ('shipments', '0006_package_tracking_number_backfill'),
    ]

    operations = [
        migrations.AlterField(
            model_name='package',
            name='tracking_number',
            field=models.CharField(default=amazon_ups.ups.shipments.tracking.new_number, editable=False, help_text='what the recipient types to find it: random, unlike the id', max_length=16, unique=True),
        ),
    ]
