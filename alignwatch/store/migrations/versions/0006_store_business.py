"""store_business: the business the store serves

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04

Stores migrated from an older revision have no row: the next command that writes events
or metrics with a strategy claims them.
"""

import sqlalchemy as sa
from alembic import op

from alignwatch.store.schema import UTCDateTime

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('store_business',
    sa.Column('slot', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('business', sa.Text(), nullable=False),
    sa.Column('claimed_at', UTCDateTime(), nullable=False),
    sa.Column('claimed_by', sa.String(length=256), nullable=True),
    sa.PrimaryKeyConstraint('slot', name=op.f('pk_store_business'))
    )


def downgrade() -> None:
    op.drop_table('store_business')
