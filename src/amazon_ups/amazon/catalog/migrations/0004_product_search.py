"""Full-text product search (catalog/search.py): one engine per database.

SQLite: an FTS5 table over the products' names and descriptions (porter stemming),
external-content so the text is stored once, kept in step by triggers, and ranked by
bm25 with the name weighing ten times the description. PostgreSQL: a GIN index on the
very tsvector expression the search filters on. Each database gets only its own; the
model state (ProductSearchEntry, unmanaged) is the same for both.
"""

import django.db.models.deletion
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector
from django.db import migrations, models

import amazon_ups.common.sqlite_fts

SQLITE_CREATE = [
    """CREATE VIRTUAL TABLE catalog_product_fts USING fts5(
        name, description, content='catalog_product', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2')""",
    # The name weighs ten times the description in the rank.
    "INSERT INTO catalog_product_fts(catalog_product_fts, rank) VALUES('rank', 'bm25(10.0, 1.0)')",
    """CREATE TRIGGER catalog_product_fts_insert AFTER INSERT ON catalog_product BEGIN
        INSERT INTO catalog_product_fts(rowid, name, description)
        VALUES (new.id, new.name, new.description);
    END""",
    """CREATE TRIGGER catalog_product_fts_delete AFTER DELETE ON catalog_product BEGIN
        INSERT INTO catalog_product_fts(catalog_product_fts, rowid, name, description)
        VALUES ('delete', old.id, old.name, old.description);
    END""",
    """CREATE TRIGGER catalog_product_fts_update AFTER UPDATE OF name, description
        ON catalog_product BEGIN
        INSERT INTO catalog_product_fts(catalog_product_fts, rowid, name, description)
        VALUES ('delete', old.id, old.name, old.description);
        INSERT INTO catalog_product_fts(rowid, name, description)
        VALUES (new.id, new.name, new.description);
    END""",
    # Products listed before this migration.
    "INSERT INTO catalog_product_fts(catalog_product_fts) VALUES('rebuild')",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS catalog_product_fts_insert",
    "DROP TRIGGER IF EXISTS catalog_product_fts_delete",
    "DROP TRIGGER IF EXISTS catalog_product_fts_update",
    "DROP TABLE IF EXISTS catalog_product_fts",
]
POSTGRES_INDEX = "catalog_product_search"


def postgres_index():
    # The expression of catalog/search.py's POSTGRES_VECTOR, as it was when this ran: a
    # test checks that the search's query plan uses this index.
    vector = SearchVector("name", weight="A", config="english") + SearchVector(
        "description", weight="B", config="english"
    )
    return GinIndex(vector, name=POSTGRES_INDEX)


def create(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        for statement in SQLITE_CREATE:
            schema_editor.execute(statement)
    elif vendor == "postgresql":
        schema_editor.add_index(apps.get_model("catalog", "Product"), postgres_index())


def drop(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        for statement in SQLITE_DROP:
            schema_editor.execute(statement)
    elif vendor == "postgresql":
        schema_editor.remove_index(apps.get_model("catalog", "Product"), postgres_index())


class Migration(migrations.Migration):

    dependencies = [
        ('catalog', '0003_prices_images'),
    ]

    operations = [
        migrations.CreateModel(
            name='ProductSearchEntry',
            fields=[
                ('product', models.OneToOneField(db_column='rowid', db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, primary_key=True, related_name='search_entry', serialize=False, to='catalog.product')),
                ('name', models.TextField()),
                ('description', models.TextField()),
                ('document', amazon_ups.common.sqlite_fts.Fts5DocumentField(db_column='catalog_product_fts')),
                ('rank', models.FloatField()),
            ],
            options={
                'db_table': 'catalog_product_fts',
                'managed': False,
            },
        ),
        migrations.RunPython(create, drop),
    ]
