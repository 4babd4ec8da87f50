"""hour-aggregate cache of the metric engine, events.ingested_at index

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from alignwatch.store.schema import UTCDateTime

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_ingested_at', ['ingested_at'], unique=False)

    op.create_table('aggregated_hours',
    sa.Column('hour', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('sla_s', sa.Float(), nullable=False),
    sa.Column('groups', sa.Integer(), nullable=False),
    sa.Column('max_event_id', sa.BigInteger(), nullable=False),
    sa.Column('aggregated_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('hour', 'sla_s', name=op.f('pk_aggregated_hours'))
    )
    op.create_table('hour_aggregates',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('hour', sa.BigInteger(), nullable=False),
    sa.Column('sla_s', sa.Float(), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('automation_id', sa.String(length=128), nullable=True),
    sa.Column('process_id', sa.String(length=128), nullable=True),
    sa.Column('touchpoint_id', sa.String(length=128), nullable=True),
    sa.Column('actor', sa.String(length=256), nullable=True),
    sa.Column('dataset', sa.String(length=256), nullable=True),
    sa.Column('k1', sa.String(length=512), nullable=True),
    sa.Column('k2', sa.String(length=512), nullable=True),
    sa.Column('sums', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hour_aggregates'))
    )
    with op.batch_alter_table('hour_aggregates', schema=None) as batch_op:
        batch_op.create_index('ix_hour_aggregates_sla_s_hour', ['sla_s', 'hour'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('hour_aggregates', schema=None) as batch_op:
        batch_op.drop_index('ix_hour_aggregates_sla_s_hour')

    op.drop_table('hour_aggregates')
    op.drop_table('aggregated_hours')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_ingested_at')
