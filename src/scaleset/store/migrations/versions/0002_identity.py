"""identity: the directory (tenant and token-signing key), principals and their grants

Revision ID: 0002
Revises: 0001
"""

from alembic import op
import sqlalchemy as sa

from scaleset.store.types import UtcDateTime


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('directory',
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('key_id', sa.String(length=64), nullable=False),
    sa.Column('signing_key', sa.Text(), nullable=False),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id')
    )
    op.create_table('principals',
    sa.Column('app_id', sa.String(length=64), nullable=False),
    sa.Column('object_id', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=256), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('app_id'),
    sa.UniqueConstraint('object_id'),
    sa.UniqueConstraint('secret_hash')
    )
    op.create_table('principal_grants',
    sa.Column('app_id', sa.String(length=64), nullable=False),
    sa.Column('subscription_id', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['app_id'], ['principals.app_id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'], ),
    sa.PrimaryKeyConstraint('app_id', 'subscription_id')
    )


def downgrade() -> None:
    op.drop_table('principal_grants')
    op.drop_table('principals')
    op.drop_table('directory')
