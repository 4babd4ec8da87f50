"""events.data as jsonb on PostgreSQL

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29

The metric engine reads payload fields of every event of a range; ``jsonb`` is read field
by field without parsing the text again. SQLite keeps its JSON text: nothing to do there.
"""

from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE events ALTER COLUMN data TYPE jsonb USING data::jsonb')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE events ALTER COLUMN data TYPE json USING data::json')
