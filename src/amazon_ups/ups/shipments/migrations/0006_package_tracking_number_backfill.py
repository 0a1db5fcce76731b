from django.db import migrations

from amazon_ups.ups.shipments import tracking


def give_numbers(apps, schema_editor):
    """Every package recorded before tracking numbers existed gets one of its own."""
    Package = apps.get_model('shipments', 'Package')
    taken = set(Package.objects.exclude(tracking_number=None).values_list('tracking_number', flat=True))
    for package in Package.objects.filter(tracking_number=None).only('id').iterator():
        number = tracking.new_number()
        while number in taken:
            number = tracking.new_number()
        taken.add(number)
        Package.objects.filter(id=package.id).update(tracking_number=number)


class Migration(migrations.Migration):

    dependencies = [
        ('shipments', '0005_package_tracking_number'),
    ]

    operations = [
        migrations.RunPython(give_numbers, migrations.RunPython.noop, elidable=False),
    ]
