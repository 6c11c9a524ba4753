"""QEMU's side of a VM: the command line that launches it, and reading slirp's connection table.

Every VM gets q35, no default devices, two serial ports (console, status channel), virtio disks
(OS, data, the cloud-init seed), user networking with host-port forwards, fw_cfg files for the
guest, and a QMP socket; it daemonizes and leaves a pidfile.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from scaleset.drivers.vm_files import VmDir
from scaleset.drivers.vm_image import VmImage

GUEST_IP = "10.0.2.15"  # where slirp puts the guest
FORWARD_FAILED = "Could not set up host forwarding rule"  # QEMU's words when a host port is taken


def qemu_command(qemu: str, accel: list[str], vm: VmDir, spec: dict[str, Any], image: VmImage, *, vcpus: int,
                 memory: int, ports: dict[int, int], files: dict[str, Path]) -> list[str]:
    """The command line that launches a VM, daemonized, on what `vm` holds."""
    forwards = "".join(f",hostfwd=tcp:127.0.0.1:{host}-:{guest}" for guest, host in sorted(ports.items()))
    argv = [
        qemu, "-name", option(spec["computer_name"]), *accel,
        "-machine", "q35", "-m", f"{memory}M", "-smp", str(vcpus),
        "-nodefaults", "-no-user-config", "-display", "none",
        "-chardev", f"file,id=console,path={option(vm.console)},append=on",
        "-device", "isa-serial,chardev=console,index=0",
        "-chardev", f"file,id=status,path={option(vm.status_channel)},append=on",
        "-device", "isa-serial,chardev=status,index=1",
        "-drive", f"if=none,id=os,file={option(vm.os_disk)},format=qcow2,discard=unmap",
    ]  # fmt: skip
    if image.kernel is not None:
        argv += ["-device", "virtio-blk-pci,drive=os", "-kernel", str(image.kernel), "-append", image.cmdline]
        if image.initrd is not None:
            argv += ["-initrd", str(image.initrd)]
    else:  # the disk's own bootloader
        argv += ["-device", "virtio-blk-pci,drive=os,bootindex=0"]
    for lun in spec["data_disk_luns"]:
        argv += ["-drive", f"if=none,id=data{lun},file={option(vm.data_disk(lun))},format=raw",
                 "-device", f"virtio-blk-pci,drive=data{lun}"]
    argv += [
        "-drive", f"if=none,id=seed,file=fat:ro:{option(vm.seed)},format=vvfat,label=cidata,readonly=on",
        "-device", "virtio-blk-pci,drive=seed",
        "-netdev", f"user,id=n0{forwards}", "-device", "virtio-net-pci,netdev=n0",
        "-fw_cfg", f"name=opt/scaleset/hostname,string={option(spec['computer_name'])}",
    ]  # fmt: skip
    for name, path in files.items():
        argv += ["-fw_cfg", f"name=opt/scaleset/{name},file={option(path)}"]
    argv += ["-qmp", f"unix:{option(vm.qmp_socket)},server=on,wait=off",
             "-daemonize", "-pidfile", str(vm.pidfile)]
    return argv


def established(usernet: str, guest_port: int, host_port: int) -> bool:
    """Whether `info usernet` lists a connection from `host_port` to the guest's port as ESTABLISHED.

    Its rows read: Protocol[State] FD SourceAddress SourcePort DestAddress DestPort RecvQ SendQ,
    where the source of a forwarded connection is the host port it came in on.
    """
    for line in usernet.splitlines():
        fields = line.split()
        if (len(fields) >= 6 and fields[0] == "TCP[ESTABLISHED]" and fields[3] == str(host_port)
                and fields[4] == GUEST_IP and fields[5] == str(guest_port)):
            return True
    return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def option(value: object) -> str:
    # QEMU splits option values at commas; a literal comma is written twice.
    return str(value).replace(",", ",,")
