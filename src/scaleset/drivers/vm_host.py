"""What the host gives a VM: an accelerator, and memory and vCPUs for a scale set's SKU.

KVM is used only when it really works: /dev/kvm writable, the CPU able to virtualise (vmx or svm
among its flags), and not the paging-based `kvm_pvm` that some nested clouds expose, on which
unmodified guests fail or crawl. Otherwise QEMU's TCG emulator runs the VM, slower but anywhere.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

ACCELS = ("auto", "kvm", "tcg")
PROFILES = ("azure", "tiny")

# vCPUs and memory (MiB) of common Azure sizes. `tiny` gives every size 128 MiB and one vCPU: the
# project's test images boot in that, and a laptop runs a dozen of them.
AZURE_SIZES: dict[str, tuple[int, int]] = {
    "standard_b1s": (1, 1024),
    "standard_b1ms": (1, 2048),
    "standard_b2s": (2, 4096),
    "standard_b2ms": (2, 8192),
    "standard_a1_v2": (1, 2048),
    "standard_a2_v2": (2, 4096),
    "standard_ds1_v2": (1, 3584),
    "standard_ds2_v2": (2, 7168),
    "standard_d2s_v3": (2, 8192),
    "standard_d4s_v3": (4, 16384),
    "standard_d2s_v5": (2, 8192),
    "standard_f2s_v2": (2, 4096),
}
DEFAULT_SIZE = (1, 2048)
TINY_SIZE = (1, 128)


@dataclass(frozen=True)
class Sizing:
    """How big a VM of each SKU is on this server: a profile, and per-server overrides."""

    profile: str = "azure"
    vcpus: int | None = None
    memory_mib: int | None = None

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"unknown VM size profile {self.profile!r}; choose one of: {', '.join(PROFILES)}")

    def of(self, sku: str) -> tuple[int, int]:
        """(vCPUs, memory in MiB) for a SKU name, matched case-insensitively."""
        vcpus, memory = TINY_SIZE if self.profile == "tiny" else AZURE_SIZES.get(sku.lower(), DEFAULT_SIZE)
        return self.vcpus or vcpus, self.memory_mib or memory


def kvm_usable() -> tuple[bool, str]:
    """Whether KVM can run guests here, and why not when it cannot."""
    kvm = Path("/dev/kvm")
    if not kvm.exists():
        return False, "/dev/kvm does not exist"
    if not os.access(kvm, os.R_OK | os.W_OK):
        return False, "/dev/kvm is not writable by this user"
    if Path("/sys/module/kvm_pvm").exists():
        return False, "/dev/kvm is kvm_pvm (nested paging-based KVM), which cannot run unmodified guests"
    try:
        flags = {word for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("flags") for word in line.split(":", 1)[1].split()}
    except OSError:
        return False, "cannot read /proc/cpuinfo"
    if not flags & {"vmx", "svm"}:
        return False, "the CPU has no vmx or svm flag"
    return True, "KVM is usable"


def accel_args(choice: str = "auto") -> list[str]:
    """QEMU arguments for the accelerator: KVM when chosen or (for auto) usable, else TCG."""
    if choice not in ACCELS:
        raise ValueError(f"unknown accelerator {choice!r}; choose one of: {', '.join(ACCELS)}")
    if choice == "kvm" or (choice == "auto" and kvm_usable()[0]):
        return ["-accel", "kvm", "-cpu", "host"]
    # A small translation cache: the default (1 GiB under TCG) would cost each VM far more host
    # memory than the guest itself.
    return ["-accel", "tcg,tb-size=32", "-cpu", "max"]


@dataclass(frozen=True)
class VmOptions:
    """A server's choices for its VMs (`scaleset serve --vm-...`)."""

    accel: str = "auto"
    sizing: Sizing = field(default_factory=Sizing)
    max_booting: int | None = None  # default: two per core


def missing_tools() -> list[str]:
    """The host programs the qemu driver needs that are not on PATH."""
    return [tool for tool in ("qemu-system-x86_64", "qemu-img", "mkfs.ext4") if shutil.which(tool) is None]


INSTALL_HINT = "apt-get install --no-install-recommends qemu-system-x86 qemu-utils e2fsprogs"
