import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.models import Sum


def count_carts(apps, schema_editor):
    """The units of every cart that has lines already."""
    Cart = apps.get_model("cart", "Cart")
    CartItem = apps.get_model("cart", "CartItem")
    totals = CartItem.objects.order_by().values("user_id").annotate(units=Sum("quantity"))
    Cart.objects.bulk_create(
        Cart(user_id=row["user_id"], units=row["units"]) for row in totals.iterator()
    )


class Migration(migrations.Migration):
    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("cart", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="Cart",
            fields=[
                (
                    "user",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="cart",
                        serialize=False,
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                ("units", models.PositiveIntegerField(default=0)),
            ],
        ),
        migrations.RunPython(count_carts, migrations.RunPython.noop, elidable=True),
    ]
