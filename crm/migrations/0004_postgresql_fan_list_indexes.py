"""Indexes only PostgreSQL can build, for the fans list (crm.selectors.fans_list).

- tags: a GIN index serves the `tag` filter (`tags @> '["vip"]'`); SQLite has no equivalent.
- last seen / subscribed at: the list sorts a missing date as the smallest value on every
  database (ASC NULLS FIRST, DESC NULLS LAST). SQLite's plain indexes already sort that way;
  PostgreSQL's put NULLs last, so it gets NULLS FIRST variants that it scans in both directions.
"""

from django.db import migrations

POSTGRESQL_INDEXES = {
    "fan_tags_gin_idx": "CREATE INDEX IF NOT EXISTS fan_tags_gin_idx ON crm_fan USING gin (tags jsonb_path_ops)",
    "fan_last_seen_nf_idx": "CREATE INDEX IF NOT EXISTS fan_last_seen_nf_idx ON crm_fan (account_id, last_seen_at NULLS FIRST, id)",
    "fan_subscribed_nf_idx": "CREATE INDEX IF NOT EXISTS fan_subscribed_nf_idx ON crm_fan (account_id, subscribed_at NULLS FIRST, id)",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for sql in POSTGRESQL_INDEXES.values():
        schema_editor.execute(sql)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in POSTGRESQL_INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("crm", "0003_account_fk_indexes_covered_by_composites")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
