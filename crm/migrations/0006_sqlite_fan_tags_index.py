"""The tag filter's index on SQLite (PostgreSQL has its GIN index from migration 0004).

SQLite cannot index the elements of a JSON array; a covering (account_id, tags) index lets the
`tag` filter (crm.selectors.fans_query) check each fan's tags without reading its table row.
Not declared on the model: on PostgreSQL a B-tree over tags would be useless next to the GIN
index, and could refuse a fan whose tags exceed a B-tree entry's size.
"""

from django.db import migrations


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute("CREATE INDEX IF NOT EXISTS fan_tags_idx ON crm_fan (account_id, tags)")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute("DROP INDEX IF EXISTS fan_tags_idx")


class Migration(migrations.Migration):
    dependencies = [("crm", "0005_covering_fan_list_indexes")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
