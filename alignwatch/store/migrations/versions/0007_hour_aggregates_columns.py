"""hour-aggregate cache as packed columns, with the distribution samples: one row per hour and SLA

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

``hour_aggregates`` held one row per group (its sums as JSON); it now holds one row per
hour and escalation SLA with the hour's groups and distribution samples as packed columns
(``alignwatch.metrics.groups.HourColumns``). The cache is rebuilt from the events: both
directions drop the cached groups and their marks, so the first computation after the
migration aggregates its hours from the events (cold) and caches them again.
"""

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sa.text('DELETE FROM aggregated_hours'))
    with op.batch_alter_table('hour_aggregates', schema=None) as batch_op:
        batch_op.drop_index('ix_hour_aggregates_sla_s_hour')
    op.drop_table('hour_aggregates')
    op.create_table('hour_aggregates',
    sa.Column('hour', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('sla_s', sa.Float(), nullable=False),
    sa.Column('layout', sa.Text(), nullable=False),
    sa.Column('ids', sa.LargeBinary(), nullable=False),
    sa.Column('sums', sa.LargeBinary(), nullable=False),
    sa.Column('samples', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('hour', 'sla_s', name=op.f('pk_hour_aggregates'))
    )


def downgrade() -> None:
    op.execute(sa.text('DELETE FROM aggregated_hours'))
    op.drop_table('hour_aggregates')
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
