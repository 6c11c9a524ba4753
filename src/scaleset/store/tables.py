"""The schema, in SQLAlchemy Core. Alembic migrations in `migrations/` build exactly this.

Names are stored as the client spelt them and matched through a lower-cased key column, because
ARM names are case-insensitive but case-preserving.
"""

from __future__ import annotations

import sqlalchemy as sa

from scaleset.store.types import UtcDateTime

metadata = sa.MetaData()

subscriptions = sa.Table(
    "subscriptions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),  # lower-case GUID
    sa.Column("display_name", sa.String(256), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

resource_groups = sa.Table(
    "resource_groups",
    metadata,
    sa.Column("subscription_id", sa.String(64), sa.ForeignKey("subscriptions.id"), primary_key=True),
    sa.Column("key", sa.String(128), primary_key=True),  # lower-cased name
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("location", sa.String(64), nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("state", sa.String(32), nullable=False),  # Succeeded | Deleting
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

# Resources we store and return but do not act on (load balancers, virtual networks, public IPs).
resources = sa.Table(
    "resources",
    metadata,
    sa.Column("key", sa.String(1024), primary_key=True),  # lower-cased resource id
    sa.Column("subscription_id", sa.String(64), nullable=False),
    sa.Column("group_key", sa.String(128), nullable=False),
    sa.Column("type_key", sa.String(256), nullable=False),  # e.g. microsoft.network/loadbalancers
    sa.Column("body", sa.JSON, nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Index("ix_resources_group", "subscription_id", "group_key", "type_key"),
)

scale_sets = sa.Table(
    "scale_sets",
    metadata,
    sa.Column("key", sa.String(1024), primary_key=True),  # lower-cased resource id
    sa.Column("subscription_id", sa.String(64), nullable=False),
    sa.Column("group_key", sa.String(128), nullable=False),
    sa.Column("group_name", sa.String(128), nullable=False),  # as spelt in ids we render
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("location", sa.String(64), nullable=False),
    sa.Column("unique_id", sa.String(64), nullable=False, unique=True),
    # The resource as the client sent it, minus read-only fields and secrets.
    sa.Column("body", sa.JSON, nullable=False),
    sa.Column("secrets", sa.Text, nullable=True),  # encrypted {"adminPassword", "protectedSettings": {ext: ...}}
    sa.Column("provisioning_state", sa.String(32), nullable=False),
    sa.Column("model_version", sa.Integer, nullable=False),  # bumped on every change of the VM model
    sa.Column("next_instance_id", sa.Integer, nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Index("ix_scale_sets_group", "subscription_id", "group_key"),
)

instances = sa.Table(
    "instances",
    metadata,
    sa.Column("scale_set_key", sa.String(1024), sa.ForeignKey("scale_sets.key"), primary_key=True),
    sa.Column("instance_id", sa.Integer, primary_key=True),
    sa.Column("vm_id", sa.String(64), nullable=False),
    sa.Column("machine_key", sa.String(128), nullable=False, unique=True),  # the driver's key
    sa.Column("ip_index", sa.Integer, nullable=False, unique=True),  # allocation order of addresses
    sa.Column("private_ip", sa.String(45), nullable=False, unique=True),  # fixed at allocation
    sa.Column("zone", sa.String(8), nullable=True),
    sa.Column("update_domain", sa.Integer, nullable=False),
    sa.Column("fault_domain", sa.Integer, nullable=False),
    sa.Column("model_version", sa.Integer, nullable=False),  # the scale-set model it runs
    sa.Column("image_urn", sa.String(512), nullable=True),  # publisher:offer:sku:version on its OS disk
    sa.Column("provisioning_state", sa.String(32), nullable=False),
    sa.Column("power_state", sa.String(32), nullable=False),
    sa.Column("extensions", sa.JSON, nullable=False),  # [{"name", "state", "message"}]
    sa.Column("last_error", sa.Text, nullable=True),
    # Intent, written before the driver is called: the action, its target and its operation.
    sa.Column("pending_action", sa.String(32), nullable=True),
    sa.Column("pending_image", sa.String(512), nullable=True),  # urn for create / reimage
    sa.Column("pending_op", sa.String(64), nullable=True),
    sa.Column("action_seq", sa.Integer, nullable=False),  # bumped on every new intent
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Index("ix_instances_pending", "pending_action"),
    # An operation is settled when none of its instances has an intent left: counted on every outcome.
    sa.Index("ix_instances_pending_op", "pending_op"),
)

images = sa.Table(
    "images",
    metadata,
    sa.Column("location", sa.String(64), primary_key=True),  # all five lower-cased
    sa.Column("publisher", sa.String(128), primary_key=True),
    sa.Column("offer", sa.String(128), primary_key=True),
    sa.Column("sku", sa.String(128), primary_key=True),
    sa.Column("version", sa.String(64), primary_key=True),
    sa.Column("names", sa.JSON, nullable=False),  # the spelling given at publish: {publisher, offer, sku}
    sa.Column("version_order", sa.String(64), nullable=False),  # zero-padded, sorts numerically
    sa.Column("os_type", sa.String(16), nullable=False),
    sa.Column("artifact", sa.String(128), nullable=False),  # content digest in the artifact store
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

operations = sa.Table(
    "operations",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("subscription_id", sa.String(64), nullable=False),
    sa.Column("location", sa.String(64), nullable=False),
    sa.Column("resource_key", sa.String(1024), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # InProgress | Succeeded | Failed | Canceled
    sa.Column("error", sa.JSON(none_as_null=True), nullable=True),  # SQL NULL, not JSON null, when absent
    sa.Column("started_at", UtcDateTime(), nullable=False),
    sa.Column("ended_at", UtcDateTime(), nullable=True),
)

# A rolling OS upgrade run: its policy, where it stands, and how it ended. The runs of a scale set
# are also its OS upgrade history.
upgrade_runs = sa.Table(
    "upgrade_runs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("scale_set_key", sa.String(1024), sa.ForeignKey("scale_sets.key", ondelete="CASCADE"), nullable=False),
    sa.Column("started_by", sa.String(16), nullable=False),  # Platform | User
    sa.Column("target_urn", sa.String(512), nullable=False),
    sa.Column("force", sa.Boolean, nullable=False),  # reimage every instance, even those on the target
    sa.Column("policy", sa.JSON, nullable=False),  # the effective policy, defaults filled in
    sa.Column("state", sa.String(16), nullable=False),  # RollingForward | RollingBack | Completed | Faulted | Cancelled
    sa.Column("phase", sa.String(16), nullable=False),  # next | approval | batch | health | pause | rollback | done
    sa.Column("batch", sa.JSON, nullable=False),  # instance ids of the batch in flight
    sa.Column("batch_count", sa.Integer, nullable=False),  # batches started so far
    sa.Column("phase_since", UtcDateTime(), nullable=False),
    sa.Column("cancel_requested", sa.Boolean, nullable=False),
    sa.Column("paused", sa.Boolean, nullable=False),
    sa.Column("last_action", sa.String(16), nullable=False),  # Start | Cancel | Pause | Resume
    sa.Column("last_action_time", UtcDateTime(), nullable=False),
    sa.Column("error", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("rollback_info", sa.JSON, nullable=False),
    sa.Column("op_id", sa.String(64), nullable=True),  # the long-running operation a client polls
    sa.Column("started_at", UtcDateTime(), nullable=False),
    sa.Column("ended_at", UtcDateTime(), nullable=True),
    sa.Index("ix_upgrade_runs_scale_set", "scale_set_key", "started_at"),
)

upgrade_members = sa.Table(
    "upgrade_members",
    metadata,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("upgrade_runs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("instance_id", sa.Integer, primary_key=True),
    sa.Column("progress", sa.String(16), nullable=False),  # planner.Progress
    sa.Column("previous_urn", sa.String(512), nullable=True),  # what a rollback restores
    sa.Column("batch_index", sa.Integer, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("approved", sa.Boolean, nullable=False, server_default=sa.false()),  # osRollingUpgradeDeferral
)

# The directory (the tenant, in Entra ID's words) this server issues access tokens for: one row,
# made at first start. The token-signing key is encrypted like every other secret; keeping it in
# the database rather than the data dir lets every replica sign and check the same tokens.
directory = sa.Table(
    "directory",
    metadata,
    sa.Column("tenant_id", sa.String(64), primary_key=True),
    sa.Column("key_id", sa.String(64), nullable=False),  # the `kid` of tokens and the JWKS
    sa.Column("signing_key", sa.Text, nullable=False),  # encrypted PEM (RSA private key)
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

# Service principals and managed identities: who may get a token, and which subscriptions it sees.
principals = sa.Table(
    "principals",
    metadata,
    sa.Column("app_id", sa.String(64), primary_key=True),  # the client id (a GUID)
    sa.Column("object_id", sa.String(64), nullable=False, unique=True),  # `oid` in tokens
    sa.Column("display_name", sa.String(256), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),  # ServicePrincipal | ManagedIdentity
    # SHA-256 of the secret (client secret or identity header). The secrets are 256 random bits,
    # so a fast hash is as safe as a slow one and lets the identity header be looked up directly.
    sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

principal_grants = sa.Table(
    "principal_grants",
    metadata,
    sa.Column("app_id", sa.String(64), sa.ForeignKey("principals.app_id", ondelete="CASCADE"), primary_key=True),
    sa.Column("subscription_id", sa.String(64), sa.ForeignKey("subscriptions.id"), primary_key=True),
)

# The server processes sharing this store: each heartbeats its row while it runs.
replicas = sa.Table(
    "replicas",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("host", sa.String(256), nullable=False),  # hostname: a replica on this host whose pid is gone is dead
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("pid_start", sa.BigInteger, nullable=True),  # the process start time, so a reused pid is not taken for it
    sa.Column("url", sa.String(512), nullable=True),  # where it serves, once bound
    sa.Column("started_at", UtcDateTime(), nullable=False),
    sa.Column("heartbeat_at", UtcDateTime(), nullable=False),
    sa.Column("stopped_at", UtcDateTime(), nullable=True),
)

# Work one replica at a time does: "scaleset:<scale set key>" (its intents, health probing and
# upgrade run) and "trigger" (automatic OS upgrades on publish). The token grows by one each time
# the lease changes hands; every write of the work checks it (fencing).
leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(1100), primary_key=True),
    sa.Column("holder", sa.String(64), nullable=True),  # a replica id; NULL when released
    sa.Column("token", sa.BigInteger, nullable=False),
    sa.Column("acquired_at", UtcDateTime(), nullable=True),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
    sa.Column("cursor", sa.BigInteger, nullable=False, server_default="0"),  # the trigger: last publication handled
    sa.Index("ix_leases_holder", "holder"),
)

# Every image version published, in order: the automatic trigger's queue (its lease keeps the cursor).
publications = sa.Table(
    "publications",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("location", sa.String(64), nullable=False),
    sa.Column("urn", sa.String(512), nullable=False),
    sa.Column("published_at", UtcDateTime(), nullable=False),
)

# The last health verdict of each watched instance, written by the replica that probes it when its
# state or reason changes, so every replica can show it.
instance_health = sa.Table(
    "instance_health",
    metadata,
    sa.Column("scale_set_key", sa.String(1024), sa.ForeignKey("scale_sets.key", ondelete="CASCADE"), primary_key=True),
    sa.Column("instance_id", sa.Integer, primary_key=True),
    sa.Column("verdict", sa.JSON, nullable=False),  # Verdict.as_json()
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)
