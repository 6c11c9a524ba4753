"""initial schema

Revision ID: 0001
Revises: 
"""

from alembic import op
import sqlalchemy as sa

from scaleset.store.types import UtcDateTime


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('images',
    sa.Column('location', sa.String(length=64), nullable=False),
    sa.Column('publisher', sa.String(length=128), nullable=False),
    sa.Column('offer', sa.String(length=128), nullable=False),
    sa.Column('sku', sa.String(length=128), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('names', sa.JSON(), nullable=False),
    sa.Column('version_order', sa.String(length=64), nullable=False),
    sa.Column('os_type', sa.String(length=16), nullable=False),
    sa.Column('artifact', sa.String(length=128), nullable=False),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('location', 'publisher', 'offer', 'sku', 'version')
    )
    op.create_table('operations',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('subscription_id', sa.String(length=64), nullable=False),
    sa.Column('location', sa.String(length=64), nullable=False),
    sa.Column('resource_key', sa.String(length=1024), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('error', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('started_at', UtcDateTime(), nullable=False),
    sa.Column('ended_at', UtcDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('resources',
    sa.Column('key', sa.String(length=1024), nullable=False),
    sa.Column('subscription_id', sa.String(length=64), nullable=False),
    sa.Column('group_key', sa.String(length=128), nullable=False),
    sa.Column('type_key', sa.String(length=256), nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    with op.batch_alter_table('resources', schema=None) as batch_op:
        batch_op.create_index('ix_resources_group', ['subscription_id', 'group_key', 'type_key'], unique=False)

    op.create_table('scale_sets',
    sa.Column('key', sa.String(length=1024), nullable=False),
    sa.Column('subscription_id', sa.String(length=64), nullable=False),
    sa.Column('group_key', sa.String(length=128), nullable=False),
    sa.Column('group_name', sa.String(length=128), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('location', sa.String(length=64), nullable=False),
    sa.Column('unique_id', sa.String(length=64), nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.Column('secrets', sa.Text(), nullable=True),
    sa.Column('provisioning_state', sa.String(length=32), nullable=False),
    sa.Column('model_version', sa.Integer(), nullable=False),
    sa.Column('next_instance_id', sa.Integer(), nullable=False),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('key'),
    sa.UniqueConstraint('unique_id')
    )
    with op.batch_alter_table('scale_sets', schema=None) as batch_op:
        batch_op.create_index('ix_scale_sets_group', ['subscription_id', 'group_key'], unique=False)

    op.create_table('subscriptions',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=256), nullable=False),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('instances',
    sa.Column('scale_set_key', sa.String(length=1024), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=False),
    sa.Column('vm_id', sa.String(length=64), nullable=False),
    sa.Column('machine_key', sa.String(length=128), nullable=False),
    sa.Column('ip_index', sa.Integer(), nullable=False),
    sa.Column('private_ip', sa.String(length=45), nullable=False),
    sa.Column('zone', sa.String(length=8), nullable=True),
    sa.Column('update_domain', sa.Integer(), nullable=False),
    sa.Column('fault_domain', sa.Integer(), nullable=False),
    sa.Column('model_version', sa.Integer(), nullable=False),
    sa.Column('image_urn', sa.String(length=512), nullable=True),
    sa.Column('provisioning_state', sa.String(length=32), nullable=False),
    sa.Column('power_state', sa.String(length=32), nullable=False),
    sa.Column('extensions', sa.JSON(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('pending_action', sa.String(length=32), nullable=True),
    sa.Column('pending_image', sa.String(length=512), nullable=True),
    sa.Column('pending_op', sa.String(length=64), nullable=True),
    sa.Column('action_seq', sa.Integer(), nullable=False),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['scale_set_key'], ['scale_sets.key'], ),
    sa.PrimaryKeyConstraint('scale_set_key', 'instance_id'),
    sa.UniqueConstraint('ip_index'),
    sa.UniqueConstraint('machine_key'),
    sa.UniqueConstraint('private_ip')
    )
    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.create_index('ix_instances_pending', ['pending_action'], unique=False)

    op.create_table('resource_groups',
    sa.Column('subscription_id', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('location', sa.String(length=64), nullable=False),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('state', sa.String(length=32), nullable=False),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'], ),
    sa.PrimaryKeyConstraint('subscription_id', 'key')
    )
    op.create_table('upgrade_runs',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('scale_set_key', sa.String(length=1024), nullable=False),
    sa.Column('started_by', sa.String(length=16), nullable=False),
    sa.Column('target_urn', sa.String(length=512), nullable=False),
    sa.Column('force', sa.Boolean(), nullable=False),
    sa.Column('policy', sa.JSON(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('phase', sa.String(length=16), nullable=False),
    sa.Column('batch', sa.JSON(), nullable=False),
    sa.Column('batch_count', sa.Integer(), nullable=False),
    sa.Column('phase_since', UtcDateTime(), nullable=False),
    sa.Column('cancel_requested', sa.Boolean(), nullable=False),
    sa.Column('paused', sa.Boolean(), nullable=False),
    sa.Column('last_action', sa.String(length=16), nullable=False),
    sa.Column('last_action_time', UtcDateTime(), nullable=False),
    sa.Column('error', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('rollback_info', sa.JSON(), nullable=False),
    sa.Column('op_id', sa.String(length=64), nullable=True),
    sa.Column('started_at', UtcDateTime(), nullable=False),
    sa.Column('ended_at', UtcDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['scale_set_key'], ['scale_sets.key'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('upgrade_runs', schema=None) as batch_op:
        batch_op.create_index('ix_upgrade_runs_scale_set', ['scale_set_key', 'started_at'], unique=False)

    op.create_table('upgrade_members',
    sa.Column('run_id', sa.String(length=64), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=False),
    sa.Column('progress', sa.String(length=16), nullable=False),
    sa.Column('previous_urn', sa.String(length=512), nullable=True),
    sa.Column('batch_index', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('approved', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['upgrade_runs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'instance_id')
    )


def downgrade() -> None:
    op.drop_table('upgrade_members')
    with op.batch_alter_table('upgrade_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_upgrade_runs_scale_set')

    op.drop_table('upgrade_runs')
    op.drop_table('resource_groups')
    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.drop_index('ix_instances_pending')

    op.drop_table('instances')
    op.drop_table('subscriptions')
    with op.batch_alter_table('scale_sets', schema=None) as batch_op:
        batch_op.drop_index('ix_scale_sets_group')

    op.drop_table('scale_sets')
    with op.batch_alter_table('resources', schema=None) as batch_op:
        batch_op.drop_index('ix_resources_group')

    op.drop_table('resources')
    op.drop_table('operations')
    op.drop_table('images')
