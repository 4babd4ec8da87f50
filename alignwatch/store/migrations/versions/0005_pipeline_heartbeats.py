"""pipeline_heartbeats: when each kind of run last ended with each outcome

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from alignwatch.store.schema import UTCDateTime

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('pipeline_heartbeats',
    sa.Column('business', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('outcome', sa.String(length=24), nullable=False),
    sa.Column('at', UTCDateTime(), nullable=False),
    sa.Column('interval_end', UTCDateTime(), nullable=False),
    sa.Column('run_id', sa.BigInteger(), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('business', 'kind', 'outcome', name=op.f('pk_pipeline_heartbeats'))
    )


def downgrade() -> None:
    op.drop_table('pipeline_heartbeats')
