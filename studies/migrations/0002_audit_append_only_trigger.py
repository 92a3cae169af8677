"""On PostgreSQL, the database itself refuses UPDATE and DELETE on the audit trail."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION nanoscope_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER studies_auditevent_append_only
    BEFORE UPDATE OR DELETE ON studies_auditevent
    FOR EACH ROW EXECUTE FUNCTION nanoscope_audit_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS studies_auditevent_append_only ON studies_auditevent;
DROP FUNCTION IF EXISTS nanoscope_audit_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("studies", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
