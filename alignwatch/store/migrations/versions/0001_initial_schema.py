"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from alignwatch.store.schema import UTCDateTime

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('source', sa.String(length=512), nullable=False),
    sa.Column('event_id', sa.String(length=256), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('time', UTCDateTime(), nullable=False),
    sa.Column('subject', sa.String(length=512), nullable=True),
    sa.Column('automation_id', sa.String(length=128), nullable=True),
    sa.Column('process_id', sa.String(length=128), nullable=True),
    sa.Column('touchpoint_id', sa.String(length=128), nullable=True),
    sa.Column('case_id', sa.String(length=256), nullable=True),
    sa.Column('actor_id', sa.String(length=256), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('ingested_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_events')),
    sa.UniqueConstraint('source', 'event_id', name=op.f('uq_events_source_event_id'))
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_time', ['time'], unique=False)
        batch_op.create_index('ix_events_type_time', ['type', 'time'], unique=False)

    op.create_table('pipeline_runs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('business', sa.String(length=128), nullable=False),
    sa.Column('interval_start', UTCDateTime(), nullable=False),
    sa.Column('interval_end', UTCDateTime(), nullable=False),
    sa.Column('started_at', UTCDateTime(), nullable=False),
    sa.Column('finished_at', UTCDateTime(), nullable=True),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('trigger', sa.String(length=256), nullable=True),
    sa.Column('value_count', sa.Integer(), nullable=True),
    sa.Column('validation', sa.JSON(), nullable=True),
    sa.Column('details', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pipeline_runs'))
    )
    with op.batch_alter_table('pipeline_runs', schema=None) as batch_op:
        batch_op.create_index('ix_pipeline_runs_kind_status_finished_at', ['kind', 'status', 'finished_at'], unique=False)

    op.create_table('quarantine',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('raw', sa.LargeBinary(), nullable=False),
    sa.Column('headers', sa.JSON(), nullable=True),
    sa.Column('reason_code', sa.String(length=64), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('origin_topic', sa.String(length=255), nullable=True),
    sa.Column('origin_partition', sa.Integer(), nullable=True),
    sa.Column('origin_offset', sa.BigInteger(), nullable=True),
    sa.Column('origin_file', sa.String(length=1024), nullable=True),
    sa.Column('origin_line', sa.Integer(), nullable=True),
    sa.Column('source', sa.String(length=512), nullable=True),
    sa.Column('event_id', sa.String(length=256), nullable=True),
    sa.Column('first_seen', UTCDateTime(), nullable=False),
    sa.Column('last_seen', UTCDateTime(), nullable=False),
    sa.Column('seen_count', sa.Integer(), server_default='1', nullable=False),
    sa.Column('status', sa.String(length=24), server_default='quarantined', nullable=False),
    sa.Column('replayed_at', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quarantine')),
    sa.UniqueConstraint('fingerprint', name=op.f('uq_quarantine_fingerprint'))
    )
    with op.batch_alter_table('quarantine', schema=None) as batch_op:
        batch_op.create_index('ix_quarantine_first_seen', ['first_seen'], unique=False)
        batch_op.create_index('ix_quarantine_reason_code', ['reason_code'], unique=False)

    op.create_table('metric_values',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('metric_id', sa.String(length=128), nullable=False),
    sa.Column('labels_key', sa.String(length=512), nullable=False),
    sa.Column('labels', sa.JSON(), nullable=False),
    sa.Column('window', sa.String(length=8), nullable=False),
    sa.Column('window_start', UTCDateTime(), nullable=False),
    sa.Column('window_end', UTCDateTime(), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('inputs', sa.JSON(), nullable=True),
    sa.Column('computed_at', UTCDateTime(), nullable=False),
    sa.Column('run_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['pipeline_runs.id'], name=op.f('fk_metric_values_run_id_pipeline_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_metric_values')),
    sa.UniqueConstraint('metric_id', 'labels_key', 'window', 'window_end', name=op.f('uq_metric_values_metric_id_labels_key_window_window_end'))
    )
    with op.batch_alter_table('metric_values', schema=None) as batch_op:
        batch_op.create_index('ix_metric_values_window_window_end', ['window', 'window_end'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('metric_values', schema=None) as batch_op:
        batch_op.drop_index('ix_metric_values_window_window_end')

    op.drop_table('metric_values')
    with op.batch_alter_table('quarantine', schema=None) as batch_op:
        batch_op.drop_index('ix_quarantine_reason_code')
        batch_op.drop_index('ix_quarantine_first_seen')

    op.drop_table('quarantine')
    with op.batch_alter_table('pipeline_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_pipeline_runs_kind_status_finished_at')

    op.drop_table('pipeline_runs')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_type_time')
        batch_op.drop_index('ix_events_time')

    op.drop_table('events')
