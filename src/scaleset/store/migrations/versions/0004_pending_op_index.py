"""an index on instances.pending_op: an operation's intents are counted each time one ends

Revision ID: 0004
Revises: 0003
"""

from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_instances_pending_op', 'instances', ['pending_op'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_instances_pending_op', table_name='instances')
