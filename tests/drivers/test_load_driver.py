from __future__ import annotations

from pathlib import Path

import pytest

from scaleset.clock import VirtualClock
from scaleset.drivers import load_driver
from scaleset.drivers.base import ImageArtifact, InstanceSpec
from scaleset.drivers.process import ProcessDriver
from scaleset.drivers.sim import SimDriver


def test_process_keeps_its_machines_under_the_data_dir(tmp_path: Path) -> None:
    driver = load_driver("process", data_dir=tmp_path, clock=VirtualClock())
    assert isinstance(driver, ProcessDriver) and driver.name == "process"
    assert driver.root == tmp_path / "machines"


async def test_sim_runs_on_the_given_clock(tmp_path: Path) -> None:
    clock = VirtualClock()
    driver = load_driver("sim", data_dir=tmp_path, clock=clock)
    assert isinstance(driver, SimDriver) and driver.name == "sim"
    upload = tmp_path / "image.json"
    upload.write_text('{"bootSeconds": 12}')
    await driver.install_image(upload, tmp_path / "image")
    await driver.create(InstanceSpec("k", "0", "vm0", "10.0.0.4", ImageArtifact("a:b:c:1", tmp_path / "image")))
    assert clock.monotonic() == 12


def test_an_unknown_driver_names_the_choices(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="process, qemu, sim"):
        load_driver("vmware", data_dir=tmp_path, clock=VirtualClock())
