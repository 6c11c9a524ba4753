"""ARM endpoints, one module per resource family; each registers its routes on the router."""

from __future__ import annotations

from scaleset.api.router import Router


def register_all(router: Router) -> None:
    from scaleset.api.endpoints import (deployments, groups, images, network, operations, principals, replicas,
                                       scale_sets, subscriptions, upgrades, vms)

    for module in (subscriptions, groups, operations, network, images, scale_sets, vms, upgrades, principals, deployments,
                   replicas):
        module.register(router)
