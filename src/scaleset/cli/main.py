"""The `scaleset` command: assembles the command groups; each lives in its own module."""

from __future__ import annotations

import click

from scaleset.cli.groups import group
from scaleset.cli.images import image, vm
from scaleset.cli.lazy_commands import LazyGroup
from scaleset.cli.principals import sp
from scaleset.cli.replicas import replicas
from scaleset.cli.vmss import vmss


@click.group(cls=LazyGroup, lazy_commands={"serve": "scaleset.cli.serve", "demo": "scaleset.cli.demo",
                                             "sim": "scaleset.cli.sim"})
@click.version_option(package_name="scaleset")
def main() -> None:
    """scaleset: VM scale sets with health-gated automatic OS image upgrades, over the ARM API."""


main.add_command(group)
main.add_command(vmss)
main.add_command(vm)
main.add_command(image)
main.add_command(sp)
main.add_command(replicas)

if __name__ == "__main__":
    main()
