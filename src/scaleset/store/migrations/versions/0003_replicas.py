"""replicas: heartbeats, leases with fencing tokens, the publication queue, persisted health verdicts

Revision ID: 0003
Revises: 0002
"""

from alembic import op
import sqlalchemy as sa

from scaleset.store.types import UtcDateTime


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('replicas',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('host', sa.String(length=256), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('pid_start', sa.BigInteger(), nullable=True),
    sa.Column('url', sa.String(length=512), nullable=True),
    sa.Column('started_at', UtcDateTime(), nullable=False),
    sa.Column('heartbeat_at', UtcDateTime(), nullable=False),
    sa.Column('stopped_at', UtcDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('leases',
    sa.Column('name', sa.String(length=1100), nullable=False),
    sa.Column('holder', sa.String(length=64), nullable=True),
    sa.Column('token', sa.BigInteger(), nullable=False),
    sa.Column('acquired_at', UtcDateTime(), nullable=True),
    sa.Column('expires_at', UtcDateTime(), nullable=False),
    sa.Column('cursor', sa.BigInteger(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_index('ix_leases_holder', 'leases', ['holder'], unique=False)
    op.create_table('publications',
    sa.Column('seq', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('location', sa.String(length=64), nullable=False),
    sa.Column('urn', sa.String(length=512), nullable=False),
    sa.Column('published_at', UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('seq')
    )
    op.create_table('instance_health',
    sa.Column('scale_set_key', sa.String(length=1024), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=False),
    sa.Column('verdict', sa.JSON(), nullable=False),
    sa.Column('updated_at', UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['scale_set_key'], ['scale_sets.key'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('scale_set_key', 'instance_id')
    )


def downgrade() -> None:
    op.drop_table('instance_health')
    op.drop_table('publications')
    op.drop_index('ix_leases_holder', table_name='leases')
    op.drop_table('leases')
    op.drop_table('replicas')
