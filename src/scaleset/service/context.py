"""What every use case needs, handed down once: store, driver, secrets, clock, settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from scaleset.clock import Clock
from scaleset.drivers.base import Driver
from scaleset.model.eligibility import DEFAULT_ELIGIBLE, Eligible, eligible
from scaleset.store.leases import Leases
from scaleset.store.database import Database
from scaleset.store.secrets import SecretBox


@dataclass(frozen=True)
class Settings:
    page_size: int = 100
    retry_after_ms: int = 1000  # LRO poll hint; below 1000 it is sent as x-ms-retry-after-ms
    status_interval: float = 2.0  # how often instance power and extension states are refreshed
    extension_timeout: float = 900.0  # how long create/reimage waits for extensions to finish
    default_location: str = "westus"
    address_block: int = 1  # instances get 127.<block>.x.y
    health_wait: float = 300.0  # how long a batch may take to turn healthy (the seed's 5 minutes)
    history_keep: int = 5  # OS upgrade history: the last attempts kept...
    history_window: float = 60 * 86400.0  # ...within this window (two months)
    # How often a waiting run looks, besides when its pause or health wait ends and when nudged:
    # actions ending, verdicts changing and steering on this replica wake it at once.
    upgrade_poll: float = 5.0
    health_tick: float = 0.5  # how often the health monitor looks for probes that are due
    probe_interval: float | None = None  # overrides every probe's interval (tests and demos)
    # While a run waits for an instance to come back healthy from its action, it is probed this
    # often, so a batch ends within this of turning healthy; with many instances settling at once,
    # less often, so that they cost at most settle_probe_rate probes a second (never less often
    # than their probe's own interval).
    settle_probe_interval: float = 0.1
    settle_probe_rate: float = 2000.0
    lease_period: float = 10.0  # a replica that stops renewing its leases loses them after this
    dispatch_poll: float = 1.0  # how often intents written by other replicas are looked for
    # The images automatic OS upgrades may be turned on for (--eligible-image).
    eligible_images: Eligible = field(default_factory=lambda: eligible(DEFAULT_ELIGIBLE))


@dataclass
class Context:
    db: Database
    driver: Driver
    secrets: SecretBox
    clock: Clock
    data_dir: Path
    leases: Leases
    settings: Settings = field(default_factory=Settings)
    # Set by the control plane: intents were written for this scale set (None: maybe for any), for
    # the instances of the ids given (None: maybe any); all of them the action given, if one is.
    wake: Callable[..., None] = lambda _scale_set_key=None, _ids=None, _action=None: None
    # Set by the control plane: instances of this scale set (those of the ids given, or any)
    # finished an action (its outcome is written), which its health watch and its run want to know
    # at once.
    acted: Callable[..., None] = lambda _scale_set_key, _ids=None, _told=None: None
