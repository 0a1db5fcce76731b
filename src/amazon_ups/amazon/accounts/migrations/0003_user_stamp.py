"""Users' stamps (models.UserStamp) and the triggers that change them on the user's row
and the profile. Every user there is now gets one."""

import secrets

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from amazon_ups.amazon.accounts import stamp_triggers


def user_table(apps) -> str:
    return apps.get_model(settings.AUTH_USER_MODEL)._meta.db_table


def create(apps, schema_editor):
    stamp_triggers.create_functions(schema_editor)
    stamp_triggers.create(schema_editor, user_table(apps), "id")
    stamp_triggers.create(schema_editor, "accounts_profile", "user_id")
    UserStamp = apps.get_model("accounts", "UserStamp")
    users = apps.get_model(settings.AUTH_USER_MODEL).objects.values_list("id", flat=True)
    UserStamp.objects.bulk_create(
        (UserStamp(user_id=user_id, value=secrets.randbits(62)) for user_id in users.iterator()),
        ignore_conflicts=True,
    )


def drop(apps, schema_editor):
    stamp_triggers.drop(schema_editor, "accounts_profile")
    stamp_triggers.drop(schema_editor, user_table(apps))
    stamp_triggers.drop_functions(schema_editor)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_addresses"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        # After every change of auth_user's columns: SQLite makes a table anew to alter
        # it, dropping its triggers (a later one drops them too: a test fails then).
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.CreateModel(
            name="UserStamp",
            fields=[
                (
                    "user",
                    models.OneToOneField(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        primary_key=True,
                        related_name="stamp",
                        serialize=False,
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                ("value", models.BigIntegerField()),
            ],
        ),
        migrations.RunPython(create, drop),
    ]
