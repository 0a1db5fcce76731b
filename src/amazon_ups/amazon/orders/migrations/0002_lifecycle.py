import django.utils.timezone
from django.db import migrations, models

# Events before this migration had only the status the order reached; their kind is the
# event that reaches that status (notes about the same status get the same kind).
KIND_OF_STATUS = {"delivering": "out for delivery"}


def kinds_from_statuses(apps, schema_editor):
    OrderEvent = apps.get_model("orders", "OrderEvent")
    for status in OrderEvent.objects.values_list("status", flat=True).distinct():
        kind = KIND_OF_STATUS.get(status, status)
        OrderEvent.objects.filter(status=status).update(kind=kind)


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="order",
            name="status_changed_at",
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.AddField(
            model_name="orderevent",
            name="kind",
            field=models.CharField(
                choices=[
                    ("placed", "order placed"),
                    ("taken in", "warehouse chosen"),
                    ("waiting for stock", "Waiting For Stock"),
                    ("packing", "Packing"),
                    ("packed", "Packed"),
                    ("truck arrived", "truck at the warehouse"),
                    ("loading", "Loading"),
                    ("load refused", "the world refused the load"),
                    ("loaded", "Loaded"),
                    ("out for delivery", "Out For Delivery"),
                    ("delivered", "Delivered"),
                    ("destination changed", "Destination Changed"),
                    ("failed", "Failed"),
                    ("stuck", "waiting far longer than usual"),
                ],
                default="placed",
                max_length=32,
            ),
            preserve_default=False,
        ),
        migrations.RunPython(kinds_from_statuses, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="orderevent",
            name="status",
            field=models.CharField(
                choices=[
                    ("placed", "Placed"),
                    ("packing", "Packing"),
                    ("packed", "Packed"),
                    ("loading", "Loading"),
                    ("loaded", "Loaded"),
                    ("delivering", "Delivering"),
                    ("delivered", "Delivered"),
                    ("failed", "Failed"),
                ],
                help_text="the order's status after it",
                max_length=16,
            ),
        ),
    ]
