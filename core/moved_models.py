"""Migration helpers for models that moved from one app to another while keeping their tables.

A moved model keeps its table (Meta.db_table), so a database that already has the table must not get a second one,
and a fresh database must get it; and its content type (with the admin permissions that point at it) follows the
model to its new app label.
"""

from __future__ import annotations

from django.db import migrations


class UnlessTablesExist(migrations.operations.base.Operation):
    """Schema operations that run only on a database without `tables` (a fresh one); where the moved models' old app
    created the tables already, only the migration state changes. Reversal leaves the tables alone: they hold rows."""

    reduces_to_sql = False
    reversible = True

    def __init__(self, *, tables: list[str], operations: list):
        self.tables = tables
        self.operations = operations

    def deconstruct(self):
        return self.__class__.__name__, [], {"tables": self.tables, "operations": self.operations}

    def state_forwards(self, app_label, state):
        for operation in self.operations:
            operation.state_forwards(app_label, state)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        existing = set(schema_editor.connection.introspection.table_names())
        if all(table in existing for table in self.tables):
            return
        state = from_state.clone()
        for operation in self.operations:
            after = state.clone()
            operation.state_forwards(app_label, after)
            operation.database_forwards(app_label, schema_editor, state, after)
            state = after

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        return

    def describe(self):
        return f"Create {', '.join(self.tables)} unless they exist"


def content_types_relabel(*, from_app: str, to_app: str, models: list[str]):
    """A RunPython function moving the content types of `models` (lower-case names) from one app label to another;
    their permissions point at the content type and so follow. Where the new label exists already, the old one goes."""

    def forwards(apps, schema_editor):
        ContentType = apps.get_model("contenttypes", "ContentType")
        db = schema_editor.connection.alias
        for model in models:
            old = ContentType.objects.using(db).filter(app_label=from_app, model=model).first()
            if old is None:
                continue
            new = ContentType.objects.using(db).filter(app_label=to_app, model=model).first()
            if new is not None:
                # Permissions granted on the new label join the old content type (unless it has them already),
                # so deleting the duplicate loses no grant.
                Permission = apps.get_model("auth", "Permission")
                held = set(Permission.objects.using(db).filter(content_type=old).values_list("codename", flat=True))
                Permission.objects.using(db).filter(content_type=new).exclude(codename__in=held).update(
                    content_type=old)
                new.delete()
            old.app_label = to_app
            old.save(update_fields=["app_label"])

    return forwards
