"""Who may turn automatic OS upgrades on: the seed's rules, checked on every PUT and PATCH."""

from __future__ import annotations

from typing import Any

from scaleset.model.eligibility import Eligible, supports_automatic_os_upgrade
from scaleset.model.scale_set import ScaleSetModel
from scaleset.service.errors import ArmError
from scaleset.upgrade.policy import automatic_os_policy


def check_automatic_os_upgrade(body: dict[str, Any], table: Eligible, *,
                               target: str = "properties.upgradePolicy.automaticOSUpgradePolicy.enableAutomaticOSUpgrade") -> None:
    """Enabling automatic OS upgrades needs an eligible platform image on 'latest' and no disk encryption."""
    if not automatic_os_policy(body).get("enableAutomaticOSUpgrade"):
        return
    model = ScaleSetModel.from_body("", body)
    ref = model.image
    if not ref.is_latest:
        raise ArmError(400, "InvalidParameter", "Automatic OS upgrades need the image reference's version to be 'latest'.", target=target)
    if not supports_automatic_os_upgrade(table, ref.publisher, ref.offer, ref.sku):
        raise ArmError(400, "InvalidParameter",
                       f"Automatic OS upgrades are not supported for image {ref.publisher}:{ref.offer}:{ref.sku}.", target=target)
    if any(e.type.lower().startswith("azurediskencryption") for e in model.extensions):
        raise ArmError(400, "InvalidParameter",
                       "Automatic OS upgrades are not supported on a scale set with the Azure Disk Encryption extension.", target=target)
