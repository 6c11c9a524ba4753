#!/usr/bin/env python3
"""Build scaleset's tiny bootable test images from Debian packages alone (stdlib only).

Called by build-tiny.sh (see images/README.md for the guest contract). It

1. resolves the Debian kernel package (``apt-cache depends linux-image-amd64``) and busybox-static,
   fetches both with ``apt-get download`` into a cache directory (nothing is installed on the host);
2. streams the kernel package's data tarball once, keeping ``boot/vmlinuz-*`` and the few kernel
   modules the guest needs, decompresses the kernel's xz payload to an ELF ``vmlinux`` (PVH direct
   boot) and any compressed module (``.ko.xz``/``.ko.gz``);
3. writes a gzip'd newc cpio stage-1 initramfs (busybox + modules in dependency order);
4. writes one ext4 root filesystem per image version (``mkfs.ext4 -d``, no root, no loop device)
   and converts it to qcow2.

Outputs go to OUTDIR/{v1,v2,broken}/{os.qcow2,kernel,initrd,cmdline}. A stamp file makes the
build idempotent: build-tiny.sh checks the stamp itself (fast path) and only calls this helper
when it may be stale.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import gzip
import hashlib
import io
import lzma
import os
import re
import shutil
import stat
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib


KERNEL_META = "linux-image-amd64"
BUSYBOX_PKG = "busybox-static"
VERSIONS = ("v1", "v2", "broken")
CMDLINE = "console=ttyS0 panic=-1 quiet"
ROOT_SIZE = "64M"
STAMP_NAME = ".stamp"

# Modules the guest needs; their dependencies (modinfo depends= and softdep pre:) are added.
# "crypto-crc32c" is an alias (ext4 and jbd2 softdep on it; without it ext4 cannot mount a
# metadata_csum filesystem because there is no modprobe to load it on demand).
WANTED_MODULES = (
    "virtio_pci",     # virtio devices on q35's PCIe bus
    "virtio_blk",     # vda (OS), vdb.. (data disks)
    "virtio_net",     # eth0
    "crypto-crc32c",  # crc32c for ext4/jbd2 checksums
    "ext4",           # root and data filesystems
    "qemu_fw_cfg",    # /sys/firmware/qemu_fw_cfg (hostname, custom data, provision script)
    "button",         # ACPI power button -> input event (graceful system_powerdown)
    "evdev",          # /dev/input/event* for busybox acpid
)

# Directories (below lib/modules/VER/kernel/) whose modules are kept in memory during the one
# streaming pass; a dependency found elsewhere triggers a second pass.
STASH_DIRS = {
    "drivers/virtio", "drivers/block", "drivers/net", "drivers/firmware", "drivers/input",
    "drivers/acpi", "fs", "fs/ext4", "fs/jbd2", "lib", "crypto", "arch/x86/crypto", "net/core",
}

# --------------------------------------------------------------------------------------------
# Guest scripts (the guest contract is documented in README.md beside this file)
# --------------------------------------------------------------------------------------------

# Stage 1 (/init in the initramfs).
GUEST_INIT = r"""#!/bin/busybox sh
# scaleset tiny image, stage 1: load the modules, find the filesystem labelled "os", switch_root.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
while read -r m; do
    insmod "/lib/modules/$m.ko" || echo "initrd: insmod $m failed"
done < /lib/modules/load-order
root=
i=0
while [ $i -lt 200 ]; do
    root=$(findfs LABEL=os 2>/dev/null) && break
    i=$((i + 1))
    usleep 50000
done
if [ -z "$root" ] || ! mount -t ext4 -o rw,noatime "$root" /newroot; then
    echo "initrd: cannot mount the filesystem labelled os (device '$root'); powering off"
    sleep 1
    poweroff -f
fi
mount --move /dev /newroot/dev
umount /sys /proc
exec switch_root /newroot /sbin/init
"""

GUEST_INITTAB = """\
# scaleset tiny image: busybox init
::sysinit:/etc/scaleset/boot
::once:/etc/scaleset/start
::ctrlaltdel:/sbin/reboot
::shutdown:/etc/scaleset/shutdown
"""

# Stage 2 (busybox init's sysinit).
GUEST_BOOT = r"""#!/bin/sh
# scaleset tiny image, stage 2 (quick): mounts, acpid, hostname, network, data disks.
# /etc/scaleset/start follows (provisioning, app, scaleset-ready). See images/README.md.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin HOME=/root
FWCFG=/sys/firmware/qemu_fw_cfg/by_name/opt/scaleset
STATE=/var/lib/scaleset
say() { echo "scaleset: $*"; }

mount -t proc proc /proc
mount -t tmpfs -o mode=0755,size=8m tmpfs /run
# First of all: ACPI power button (QMP system_powerdown) -> /etc/acpi/PWRF/00000080 -> shutdown, poweroff -f.
# A button press before acpid runs is lost (the stage 1 initrd loaded button and evdev).
acpid -c /etc/acpi -l /run/acpid.log -p /run/acpid.pid
mount -t sysfs sysfs /sys
grep -q '^[^ ]* /dev ' /proc/mounts || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777,size=32m tmpfs /tmp
mount -o remount,rw,noatime /
# Lines written to the status channel end in a plain "\n" (no "\r\n" translation).
stty -F /dev/ttyS1 -opost 2>/dev/null

hn=$(cat "$FWCFG/hostname/raw" 2>/dev/null)
[ -n "$hn" ] || hn=scaleset
hostname "$hn"
echo "$hn" > /etc/hostname
printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n' "$hn" > /etc/hosts

# Network: the first NIC, static addressing for QEMU user networking.
ip link set lo up
nic=
for d in /sys/class/net/*; do
    if [ -e "$d/device" ]; then nic=${d##*/}; break; fi
done
if [ -n "$nic" ]; then
    ip addr add 10.0.2.15/24 dev "$nic"
    ip link set "$nic" up
    ip route add default via 10.0.2.2
else
    say "no network interface"
fi

# Data disks: every ext4 filesystem labelled data<N> is mounted on /data/<N>.
ext4_label() {
    magic=$(dd if="$1" bs=1 skip=1080 count=2 2>/dev/null | od -An -tx1 | tr -d ' \n')
    [ "$magic" = 53ef ] || return 1
    dd if="$1" bs=1 skip=1144 count=16 2>/dev/null | tr -d '\000'
}
for dev in /dev/vd* /dev/sd*; do
    [ -b "$dev" ] || continue
    label=$(ext4_label "$dev") || continue
    case $label in data[0-9]*) n=${label#data} ;; *) continue ;; esac
    case $n in *[!0-9]*) continue ;; esac
    mkdir -p "/data/$n"
    if grep -q "^[^ ]* /data/$n " /proc/mounts; then
        say "$dev: /data/$n is already mounted, skipping"
    elif mount -t ext4 -o rw,noatime "$dev" "/data/$n"; then
        say "$dev ($label) mounted on /data/$n"
    else
        say "cannot mount $dev ($label)"
    fi
done
"""

# Busybox init's "once" action, started right after GUEST_BOOT. Not a sysinit action: busybox init
# handles the power button's poweroff only after sysinit returned, and provisioning can be long.
GUEST_START = r"""#!/bin/sh
# scaleset tiny image: provisioning (once per OS disk), the app, then "scaleset-ready" on ttyS1.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin HOME=/root
FWCFG=/sys/firmware/qemu_fw_cfg/by_name/opt/scaleset
STATE=/var/lib/scaleset
say() { echo "scaleset: $*"; }

# The marker lives on the OS disk: a reboot skips this, a reimage (fresh OS disk) runs it again.
mkdir -p "$STATE"
if [ ! -e "$STATE/provisioned" ]; then
    if [ -r "$FWCFG/customdata/raw" ]; then
        cat "$FWCFG/customdata/raw" > "$STATE/customdata"
    fi
    if [ -r "$FWCFG/provision/raw" ]; then
        cat "$FWCFG/provision/raw" > "$STATE/provision.sh"
        say "running provision.sh"
        touch "$STATE/provision.log"
        start=$(wc -c < "$STATE/provision.log")
        # Output goes to the log while it runs (a pipe to the console would make boot wait for
        # anything the script leaves running in the background), then to the console. Its own
        # session, so that shutdown can stop it.
        cd "$STATE"
        setsid /bin/sh ./provision.sh < /dev/null >> "$STATE/provision.log" 2>&1 &
        echo $! > /run/provision.pid
        wait $!
        rc=$?
        # Interrupted by a shutdown: not provisioned (the next boot runs it again).
        [ -e /run/stopping ] && exit 0
        cd /
        rm -f /run/provision.pid
        tail -c +$((start + 1)) "$STATE/provision.log"
        say "provision.sh exited with $rc"
    fi
    sync
    : > "$STATE/provisioned"
    sync
fi

[ -e /run/stopping ] && exit 0
if [ -x /etc/scaleset/app ]; then
    setsid /etc/scaleset/app < /dev/null > /dev/console 2>&1 &
    echo $! > /run/app.pid
    # Wait (at most 2 s) until something listens on port 80.
    i=0
    while [ $i -lt 100 ] && ! grep -q ':0050 0*:0000 0A' /proc/net/tcp /proc/net/tcp6; do
        usleep 20000
        i=$((i + 1))
    done
fi
say "boot finished: $(cat /etc/image-version) $(hostname)"
echo scaleset-ready > /dev/ttyS1
"""

# Runs from busybox init on poweroff/reboot, before init signals every process.
GUEST_SHUTDOWN = r"""#!/bin/sh
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
echo "scaleset: shutting down"
: > /run/stopping
for f in /run/app.pid /run/provision.pid; do
    [ -r "$f" ] && kill -TERM -"$(cat "$f")" 2>/dev/null
done
usleep 100000
sync
for m in $(awk '$2 ~ /^\/data\// { print $2 }' /proc/mounts); do
    umount "$m" 2>/dev/null || mount -o remount,ro "$m" || echo "scaleset: cannot unmount $m"
done
mount -o remount,ro / 2>/dev/null
sync
"""

# The app: an HTTP server on port 80; busybox nc forks the handler for each connection.
GUEST_APP = r"""#!/bin/sh
while :; do
    nc -ll -p 80 -e /etc/scaleset/http
    echo "scaleset-app: nc exited ($?), restarting"
    sleep 1
done
"""

# One HTTP request on stdin -> one response on stdout (Connection: close).
GUEST_HTTP = r"""#!/bin/sh
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
cr=$(printf '\r')
read -t 10 -r method target proto || exit 0
len=0
while IFS= read -t 10 -r line; do
    line=${line%"$cr"}
    [ -z "$line" ] && break
    case $line in
    [Cc][Oo][Nn][Tt][Ee][Nn][Tt]-[Ll][Ee][Nn][Gg][Tt][Hh]:*) set -- ${line#*:}; len=$1 ;;
    esac
done
case $len in '' | *[!0-9]*) len=0 ;; esac
path=${target%%\?*}
query=
case $target in *\?*) query=${target#*\?} ;; esac

respond() { # STATUS CONTENT-TYPE BODY
    printf 'HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
        "$1" "$2" "${#3}" "$3"
}
read -r version < /etc/image-version

case "$method $path" in
"GET /health")
    respond "200 OK" application/json "{\"ApplicationHealthState\": \"Healthy\", \"version\": \"$version\"}"
    ;;
"GET /")
    read -r hn < /proc/sys/kernel/hostname
    cd=false
    [ -e /var/lib/scaleset/customdata ] && cd=true
    respond "200 OK" application/json "{\"version\": \"$version\", \"hostname\": \"$hn\", \"customdata\": $cd}"
    ;;
"GET /disk" | "POST /disk" | "PUT /disk")
    lun=
    for kv in $(echo "$query" | tr '&' ' '); do
        case $kv in lun=*) lun=${kv#lun=} ;; esac
    done
    case $lun in '' | *[!0-9]*) respond "400 Bad Request" text/plain "lun=N required"; exit 0 ;; esac
    dir=/data/$lun
    if ! grep -q "^[^ ]* $dir " /proc/mounts; then
        respond "404 Not Found" text/plain "no data disk $lun"
    elif [ "$method" = GET ]; then
        if [ -f "$dir/marker" ]; then
            size=$(wc -c < "$dir/marker")
            printf 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n' "$size"
            cat "$dir/marker"
        else
            respond "404 Not Found" text/plain "no marker"
        fi
    elif head -c "$len" > "$dir/.marker.tmp" && mv "$dir/.marker.tmp" "$dir/marker" && sync; then
        respond "200 OK" text/plain ok
    else
        respond "500 Internal Server Error" text/plain "write failed"
    fi
    ;;
*)
    respond "404 Not Found" text/plain "not found"
    ;;
esac
"""


def log(msg: str) -> None:
    print(f"build-tiny: {msg}", file=sys.stderr, flush=True)


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, **kw)


# --------------------------------------------------------------------------------------------
# Debian packages
# --------------------------------------------------------------------------------------------

_apt_updated = False
# apt options: this machine kind disables apt's binary package cache (docker-clean), which makes
# every apt-cache call re-parse the lists (~0.6 s); keep one of our own beside the .debs instead.
APT_OPTS: list[str] = []


def use_apt_cache_dir(debdir: str) -> None:
    d = os.path.join(debdir, ".apt")
    os.makedirs(d, exist_ok=True)
    APT_OPTS[:] = ["-o", f"Dir::Cache::pkgcache={d}/pkgcache.bin",
                   "-o", f"Dir::Cache::srcpkgcache={d}/srcpkgcache.bin"]


def apt_update() -> None:
    global _apt_updated
    if _apt_updated:
        return
    _apt_updated = True
    if os.geteuid() != 0:
        log("apt lists look missing or stale; run 'apt-get update' as root")
        return
    log("apt lists look missing or stale: running apt-get update")
    subprocess.run(["apt-get", "update", "-qq"], stdout=sys.stderr)


def resolve_kernel_package() -> str:
    forced = os.environ.get("SCALESET_TINY_KERNEL_PKG")
    if forced:
        return forced
    for attempt in range(2):
        out = subprocess.run(["apt-cache", *APT_OPTS, "depends", KERNEL_META],
                             capture_output=True, text=True).stdout
        names = re.findall(r"^\s*Depends:\s*(linux-image-\S+)", out, re.M)
        names = [n for n in names if not n.startswith("<") and n != KERNEL_META]
        if names:
            return names[0]
        if attempt == 0:
            apt_update()
    raise SystemExit(f"build-tiny: cannot resolve the kernel package behind {KERNEL_META} "
                     "(apt-cache depends found nothing)")


def candidate(pkg: str) -> tuple[str, str]:
    """(version, arch) of the candidate apt would download."""
    for attempt in range(2):
        out = subprocess.run(["apt-cache", *APT_OPTS, "show", "--no-all-versions", pkg],
                             capture_output=True, text=True).stdout
        ver = re.search(r"^Version:\s*(\S+)", out, re.M)
        arch = re.search(r"^Architecture:\s*(\S+)", out, re.M)
        if ver and arch:
            return ver.group(1), arch.group(1)
        if attempt == 0:
            apt_update()
    raise SystemExit(f"build-tiny: apt knows no package {pkg}")


def fetch_deb(pkg: str, debdir: str) -> str:
    """Path of PKG's candidate .deb in debdir, downloading it with apt-get download if needed."""
    version, arch = candidate(pkg)
    name = f"{pkg}_{version.replace(':', '%3a')}_{arch}.deb"
    path = os.path.join(debdir, name)
    if os.path.exists(path):
        return path
    cmd = ["apt-get", *APT_OPTS, "download", "-q"]
    if os.geteuid() == 0:
        # apt drops to _apt for downloads, which cannot write into e.g. /root/.cache.
        cmd += ["-o", "APT::Sandbox::User=root"]
    for attempt in range(2):
        log(f"downloading {pkg} {version}")
        r = subprocess.run(cmd + [f"{pkg}={version}"], cwd=debdir, stdout=sys.stderr)
        if r.returncode == 0 and os.path.exists(path):
            return path
        if attempt == 0:
            apt_update()
    # apt may name the file differently (e.g. without the epoch): take what it wrote.
    matches = sorted((f for f in os.listdir(debdir) if f.startswith(pkg + "_")
                      and f.endswith(".deb")), key=lambda f: os.path.getmtime(
                          os.path.join(debdir, f)))
    if matches:
        log(f"apt-get download {pkg} failed; using the cached {matches[-1]}")
        return os.path.join(debdir, matches[-1])
    raise SystemExit(f"build-tiny: apt-get download {pkg} failed")


@contextlib.contextmanager
def deb_data(deb: str):
    """A streaming tarfile of the .deb's data archive (dpkg-deb --fsys-tarfile)."""
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", deb], stdout=subprocess.PIPE)
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tf:
            yield tf
    finally:
        proc.stdout.close()
        proc.kill()
        proc.wait()


# --------------------------------------------------------------------------------------------
# Kernel and modules
# --------------------------------------------------------------------------------------------

def decompress_module(name: str, data: bytes) -> bytes:
    if name.endswith(".ko"):
        return data
    if name.endswith(".ko.xz"):
        return lzma.decompress(data)
    if name.endswith(".ko.gz"):
        return gzip.decompress(data)
    if name.endswith(".ko.zst"):
        zstd = shutil.which("zstd")
        if not zstd:
            raise SystemExit(f"build-tiny: {name} is zstd-compressed; install zstd")
        return subprocess.run([zstd, "-dc"], input=data, capture_output=True, check=True).stdout
    raise ValueError(name)


def module_name(path: str) -> str:
    base = os.path.basename(path)
    base = re.sub(r"\.ko(\.(xz|gz|zst))?$", "", base)
    return base.replace("-", "_")


def elf_section(data: bytes, wanted: str) -> bytes | None:
    """Contents of the named section of an ELF64 little-endian file."""
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return None
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)

    def sh(i):
        _name, _type, _flags, _addr, off, size = struct.unpack_from("<IIQQQQ", data,
                                                                     shoff + i * shentsize)
        return _name, off, size

    _, stroff, strsize = sh(shstrndx)
    strtab = data[stroff:stroff + strsize]
    for i in range(shnum):
        nameoff, off, size = sh(i)
        end = strtab.index(b"\0", nameoff)
        if strtab[nameoff:end].decode() == wanted:
            return data[off:off + size]
    return None


def modinfo(data: bytes) -> dict[str, list[str]]:
    info: dict[str, list[str]] = {}
    sec = elf_section(data, ".modinfo") or b""
    for item in sec.split(b"\0"):
        if b"=" in item:
            k, v = item.decode(errors="replace").split("=", 1)
            info.setdefault(k, []).append(v)
    return info


def module_deps(info: dict[str, list[str]]) -> list[tuple[str, bool]]:
    """[(module or alias, optional)]: depends= (required) and softdep pre: (optional)."""
    deps = []
    for d in info.get("depends", []):
        deps += [(x, False) for x in d.split(",") if x]
    for s in info.get("softdep", []):
        # "pre: a b post: c" -> the pre modules must be loaded first.
        section = None
        for tok in s.split():
            if tok.endswith(":"):
                section = tok[:-1]
            elif section == "pre":
                deps.append((tok, True))
    return deps


def xz_or_gzip_payload(vmlinuz: bytes) -> bytes | None:
    """The ELF vmlinux inside a bzImage (xz or gzip payload), or None."""
    for magic, make in ((b"\xfd7zXZ\x00", lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ)),
                        (b"\x1f\x8b\x08", lambda: zlib.decompressobj(16 + zlib.MAX_WBITS))):
        pos = vmlinuz.find(magic)
        while pos >= 0:
            try:
                out = make().decompress(vmlinuz[pos:])
                if out[:4] == b"\x7fELF":
                    return out
            except (lzma.LZMAError, zlib.error):
                pass
            pos = vmlinuz.find(magic, pos + 1)
    return None


def has_pvh_note(elf: bytes) -> bool:
    """True if the ELF has the Xen PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY) QEMU boots from."""
    phoff, = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    for i in range(phnum):
        p_type, _flags, off, _va, _pa, filesz = struct.unpack_from("<IIQQQQ", elf,
                                                                  phoff + i * phentsize)
        if p_type != 4:  # PT_NOTE
            continue
        pos, end = off, off + filesz
        while pos + 12 <= end:
            namesz, descsz, ntype = struct.unpack_from("<III", elf, pos)
            name = elf[pos + 12:pos + 12 + namesz].rstrip(b"\0")
            if name == b"Xen" and ntype == 18:
                return True
            pos += 12 + ((namesz + 3) & ~3) + ((descsz + 3) & ~3)
    return False


def extract_kernel(deb: str) -> tuple[bytes, list[tuple[str, bytes]]]:
    """(kernel image, [(module name, .ko bytes)] in load order) from the kernel .deb."""
    t0 = time.monotonic()
    vmlinuz = None
    index: dict[str, str] = {}        # module name -> member path
    stash: dict[str, bytes] = {}      # member path -> raw (maybe compressed) bytes
    builtin: set[str] = set()         # names and aliases of modules built into the kernel

    def keep(path: str) -> bool:
        m = re.search(r"lib/modules/[^/]+/kernel/(.*)/[^/]+$", path)
        return bool(m) and m.group(1) in STASH_DIRS

    with deb_data(deb) as tf:
        for member in tf:
            if not member.isfile():
                continue
            path = member.name.lstrip("./")
            if re.match(r"boot/vmlinuz-", path):
                vmlinuz = tf.extractfile(member).read()
            elif re.search(r"lib/modules/[^/]+/modules\.builtin$", path):
                builtin.update(module_name(line.strip()) for line in
                               tf.extractfile(member).read().decode().splitlines() if line.strip())
            elif re.search(r"lib/modules/[^/]+/modules\.builtin\.modinfo$", path):
                for item in tf.extractfile(member).read().split(b"\0"):
                    key, _, value = item.decode(errors="replace").partition("=")
                    mod, _, field = key.partition(".")
                    if mod:
                        builtin.add(mod.replace("-", "_"))
                    if field == "alias":
                        builtin.add(value)
            elif re.search(r"\.ko(\.(xz|gz|zst))?$", path) and "/kernel/" in path:
                index[module_name(path)] = path
                if keep(path):
                    stash[path] = tf.extractfile(member).read()
    if vmlinuz is None:
        raise SystemExit(f"build-tiny: no boot/vmlinuz-* in {deb}")

    infos: dict[str, dict[str, list[str]]] = {}

    def load_info(path: str) -> dict[str, list[str]]:
        if path not in infos:
            infos[path] = modinfo(decompress_module(path, stash[path]))
        return infos[path]

    def resolve(name: str) -> str | None:
        """Member path of the module called or aliased NAME (among what is known)."""
        norm = name.replace("-", "_")
        if norm in index:
            return index[norm]
        hits = [p for p in stash if name in load_info(p).get("alias", [])]
        # Prefer the portable implementation (crc32c_generic over crc32c_intel).
        hits.sort(key=lambda p: (not module_name(p).endswith("_generic"), p))
        return hits[0] if hits else None

    order: list[str] = []
    missing: set[str] = set()

    def visit(name: str, chain: tuple[str, ...], optional: bool = False) -> None:
        path = resolve(name)
        if path is None:
            if name in builtin or name.replace("-", "_") in builtin:
                return  # built into the kernel
            needed_by = " <- ".join(module_name(c) for c in reversed(chain)) or "the guest"
            if optional:
                log(f"note: soft dependency {name} of {needed_by} not found; skipped")
                return
            raise SystemExit(f"build-tiny: kernel module {name} not found (needed by "
                             f"{needed_by})")
        if path in order or path in chain:
            return
        if path not in stash:
            missing.add(path)
            return
        for dep, soft in module_deps(load_info(path)):
            visit(dep, chain + (path,), soft)
        order.append(path)

    for _ in range(2):
        order.clear()
        missing.clear()
        for name in WANTED_MODULES:
            visit(name, ())
        if not missing:
            break
        log(f"second pass over the kernel package for {sorted(missing)}")
        with deb_data(deb) as tf:
            for member in tf:
                path = member.name.lstrip("./")
                if path in missing:
                    stash[path] = tf.extractfile(member).read()
    else:
        raise SystemExit(f"build-tiny: could not extract {sorted(missing)}")

    vmlinux = xz_or_gzip_payload(vmlinuz)
    if vmlinux is not None and has_pvh_note(vmlinux):
        kernel = vmlinux
    else:
        log("no PVH-bootable vmlinux in the kernel package; using the bzImage (slower boot)")
        kernel = vmlinuz
    mods = [(module_name(p), decompress_module(p, stash[p])) for p in order]
    log(f"kernel and {len(mods)} modules extracted in {time.monotonic() - t0:.1f}s: "
        + " ".join(n for n, _ in mods))
    return kernel, mods


def extract_kernel_cached(deb: str, debdir: str) -> tuple[bytes, list[tuple[str, bytes]]]:
    """extract_kernel, remembered per kernel package and module list (saves ~3 s of xz)."""
    key = hashlib.sha256(repr((os.path.basename(deb), WANTED_MODULES)).encode()).hexdigest()[:16]
    cache = os.path.join(debdir, ".extracted", f"{os.path.basename(deb)[:-4]}-{key}")
    order_file = os.path.join(cache, "load-order")
    if os.path.exists(order_file):
        with open(os.path.join(cache, "kernel"), "rb") as f:
            kernel = f.read()
        mods = []
        with open(order_file) as f:
            for name in f.read().split():
                with open(os.path.join(cache, f"{name}.ko"), "rb") as m:
                    mods.append((name, m.read()))
        return kernel, mods
    kernel, mods = extract_kernel(deb)
    # Forget extractions of other kernels: one kernel's worth is enough.
    parent = os.path.dirname(cache)
    if os.path.isdir(parent):
        shutil.rmtree(parent, ignore_errors=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-", dir=debdir)
    with open(os.path.join(tmp, "kernel"), "wb") as f:
        f.write(kernel)
    for name, data in mods:
        with open(os.path.join(tmp, f"{name}.ko"), "wb") as f:
            f.write(data)
    with open(os.path.join(tmp, "load-order"), "w") as f:
        f.write("".join(f"{n}\n" for n, _ in mods))
    os.makedirs(parent, exist_ok=True)
    os.rename(tmp, cache)
    return kernel, mods


# --------------------------------------------------------------------------------------------
# busybox
# --------------------------------------------------------------------------------------------

def extract_busybox(deb: str) -> bytes:
    with deb_data(deb) as tf:
        for member in tf:
            if member.name.lstrip("./") == "bin/busybox":
                return tf.extractfile(member).read()
    raise SystemExit(f"build-tiny: no bin/busybox in {deb}")


def busybox_applets(busybox: str) -> list[str]:
    """Applet paths (e.g. 'bin/sh', 'sbin/init') as the static busybox itself lists them."""
    out = run([busybox, "--list-full"], capture_output=True, text=True).stdout
    return sorted({line.strip().lstrip("/") for line in out.splitlines() if line.strip()})


# --------------------------------------------------------------------------------------------
# initramfs (newc cpio, written directly so device nodes need no root)
# --------------------------------------------------------------------------------------------

class Cpio:
    def __init__(self) -> None:
        self.buf = io.BytesIO()
        self.ino = 1

    def _entry(self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)):
        nameb = name.encode() + b"\0"
        fields = (self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(nameb), 0)
        self.ino += 1
        hdr = b"070701" + b"".join(b"%08X" % f for f in fields)
        self.buf.write(hdr + nameb)
        self.buf.write(b"\0" * (-(len(hdr) + len(nameb)) % 4))
        self.buf.write(data)
        self.buf.write(b"\0" * (-len(data) % 4))

    def dir(self, name: str) -> None:
        self._entry(name, stat.S_IFDIR | 0o755)

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self._entry(name, stat.S_IFREG | mode, data)

    def symlink(self, name: str, target: str) -> None:
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def chardev(self, name: str, major: int, minor: int, mode: int = 0o600) -> None:
        self._entry(name, stat.S_IFCHR | mode, rdev=(major, minor))

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0)
        data = self.buf.getvalue()
        return data + b"\0" * (-len(data) % 512)


def make_initrd(busybox: bytes, applets: list[str], mods: list[tuple[str, bytes]]) -> bytes:
    c = Cpio()
    for d in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "dev", "proc", "sys", "newroot",
              "lib", "lib/modules"):
        c.dir(d)
    c.chardev("dev/console", 5, 1)
    c.chardev("dev/null", 1, 3, 0o666)
    c.file("bin/busybox", busybox, 0o755)
    for a in applets:
        if a != "bin/busybox" and os.path.dirname(a) in ("bin", "sbin", "usr/bin", "usr/sbin"):
            c.symlink(a, "/bin/busybox")
    for name, data in mods:
        c.file(f"lib/modules/{name}.ko", data)
    c.file("lib/modules/load-order", "".join(f"{n}\n" for n, _ in mods).encode())
    c.file("init", GUEST_INIT.encode(), 0o755)
    return gzip.compress(c.finish(), compresslevel=6, mtime=0)


# --------------------------------------------------------------------------------------------
# root filesystem
# --------------------------------------------------------------------------------------------

def make_rootdir(root: str, version: str, busybox_path: str, applets: list[str]) -> None:
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "dev", "proc", "sys", "run", "tmp", "root",
              "mnt", "data", "etc/acpi/PWRF", "etc/scaleset", "var/lib/scaleset", "var/log",
              "var/tmp", "srv"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    os.chmod(os.path.join(root, "tmp"), 0o1777)
    os.chmod(os.path.join(root, "var/tmp"), 0o1777)
    os.chmod(os.path.join(root, "root"), 0o700)
    os.symlink("/run", os.path.join(root, "var/run"))
    shutil.copy(busybox_path, os.path.join(root, "bin/busybox"))
    os.chmod(os.path.join(root, "bin/busybox"), 0o755)
    for a in applets:
        if a != "bin/busybox" and os.path.dirname(a) in ("bin", "sbin", "usr/bin", "usr/sbin"):
            os.symlink("/bin/busybox", os.path.join(root, a))

    def put(rel: str, text: str, mode: int = 0o644) -> None:
        path = os.path.join(root, rel)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)

    put("etc/image-version", version + "\n")
    put("etc/inittab", GUEST_INITTAB)
    put("etc/scaleset/boot", GUEST_BOOT, 0o755)
    put("etc/scaleset/start", GUEST_START, 0o755)
    put("etc/scaleset/shutdown", GUEST_SHUTDOWN, 0o755)
    # The power button stops what runs, syncs and unmounts (the same script init runs on poweroff),
    # then powers off at once: init's own sequence would add two fixed 1 s pauses (SIGTERM, wait,
    # SIGKILL, wait), which made a reimage 1.6x a cold boot.
    put("etc/acpi/PWRF/00000080", "#!/bin/sh\n/etc/scaleset/shutdown\nexec /sbin/poweroff -f\n", 0o755)
    if version != "broken":
        put("etc/scaleset/app", GUEST_APP, 0o755)
        put("etc/scaleset/http", GUEST_HTTP, 0o755)
    put("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
    put("etc/group", "root:x:0:\n")
    put("etc/shadow", "root:*:1::::::\n", 0o600)
    put("etc/hostname", "scaleset\n")
    put("etc/hosts", "127.0.0.1\tlocalhost\n")
    put("etc/resolv.conf", "nameserver 10.0.2.3\n")
    put("etc/fstab", "# mounts are done by /etc/scaleset/boot\n")
    put("etc/profile", "export PATH=/sbin:/bin:/usr/sbin:/usr/bin\n")


def chown_root_script(root: str) -> str:
    """debugfs commands making every inode below root owned by 0:0 (for non-root builds)."""
    cmds = []
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            rel = "/" + os.path.relpath(os.path.join(dirpath, n), root)
            cmds += [f'sif "{rel}" uid 0', f'sif "{rel}" gid 0']
    return "\n".join(cmds) + "\n"


def make_os_disk(root: str, out_qcow2: str, tmpdir: str) -> None:
    raw = os.path.join(tmpdir, "base.raw")
    run(["mkfs.ext4", "-q", "-F", "-L", "os", "-E", "root_owner=0:0", "-d", root, raw,
         ROOT_SIZE], stdout=subprocess.DEVNULL)
    if os.geteuid() != 0:
        script = os.path.join(tmpdir, "chown.debugfs")
        with open(script, "w") as f:
            f.write(chown_root_script(root))
        run(["debugfs", "-w", "-f", script, raw], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
    run(["qemu-img", "convert", "-O", "qcow2", raw, out_qcow2])
    os.unlink(raw)


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------

def read_stamp(outdir: str) -> dict[str, str]:
    try:
        with open(os.path.join(outdir, STAMP_NAME)) as f:
            return dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
    except OSError:
        return {}


def outputs_present(outdir: str) -> bool:
    return all(os.path.isfile(os.path.join(outdir, v, f))
               for v in VERSIONS for f in ("os.qcow2", "kernel", "initrd", "cmdline"))


def write_stamp(outdir: str, fields: dict[str, str]) -> None:
    tmp = os.path.join(outdir, STAMP_NAME + ".tmp")
    with open(tmp, "w") as f:
        f.writelines(f"{k}={v}\n" for k, v in fields.items())
    os.replace(tmp, os.path.join(outdir, STAMP_NAME))


def link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def build(outdir: str, debdir: str, script_hash: str, apt_state: str) -> None:
    os.makedirs(outdir, exist_ok=True)
    os.makedirs(debdir, exist_ok=True)
    with open(os.path.join(outdir, ".lock"), "w") as lockf:
        fcntl.flock(lockf, fcntl.LOCK_EX)
        quick = f"{script_hash}:{apt_state}"
        stamp = read_stamp(outdir)
        if stamp.get("quick") == quick and outputs_present(outdir):
            return  # another build finished while we waited for the lock

        use_apt_cache_dir(debdir)
        kpkg = resolve_kernel_package()
        kdeb = fetch_deb(kpkg, debdir)
        bdeb = fetch_deb(BUSYBOX_PKG, debdir)
        full = f"{script_hash}:{os.path.basename(kdeb)}:{os.path.basename(bdeb)}"
        if stamp.get("full") == full and outputs_present(outdir):
            write_stamp(outdir, {"quick": quick, "full": full})
            return

        t0 = time.monotonic()
        log(f"building images in {outdir} (kernel {os.path.basename(kdeb)})")
        work = tempfile.mkdtemp(prefix=".build-", dir=outdir)
        try:
            busybox = extract_busybox(bdeb)
            bb_path = os.path.join(work, "busybox")
            with open(bb_path, "wb") as f:
                f.write(busybox)
            os.chmod(bb_path, 0o755)
            applets = busybox_applets(bb_path)
            kernel, mods = extract_kernel_cached(kdeb, debdir)

            shared = os.path.join(work, "shared")
            os.makedirs(shared)
            with open(os.path.join(shared, "kernel"), "wb") as f:
                f.write(kernel)
            with open(os.path.join(shared, "initrd"), "wb") as f:
                f.write(make_initrd(busybox, applets, mods))
            with open(os.path.join(shared, "cmdline"), "w") as f:
                f.write(CMDLINE + "\n")

            build_id = hashlib.sha256(full.encode()).hexdigest()[:16]
            for version in VERSIONS:
                vdir = os.path.join(work, version)
                os.makedirs(vdir)
                root = os.path.join(work, f"root-{version}")
                make_rootdir(root, version, bb_path, applets)
                make_os_disk(root, os.path.join(vdir, "os.qcow2"), work)
                shutil.rmtree(root)
                for name in ("kernel", "initrd", "cmdline"):
                    link_or_copy(os.path.join(shared, name), os.path.join(vdir, name))
                with open(os.path.join(vdir, "build-id"), "w") as f:
                    f.write(f"{version}-{build_id}\n")

            # Swap the new outputs in (each version directory atomically).
            for version in VERSIONS:
                final = os.path.join(outdir, version)
                old = os.path.join(work, f"old-{version}")
                if os.path.lexists(final):
                    os.rename(final, old)
                os.rename(os.path.join(work, version), final)
            write_stamp(outdir, {"quick": quick, "full": full})
        finally:
            shutil.rmtree(work, ignore_errors=True)
        log(f"built {', '.join(VERSIONS)} in {time.monotonic() - t0:.1f}s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--debs", required=True, help="directory caching the downloaded .debs")
    ap.add_argument("--script-hash", required=True)
    ap.add_argument("--apt-state", required=True)
    a = ap.parse_args()
    build(os.path.abspath(a.outdir), os.path.abspath(a.debs), a.script_hash, a.apt_state)


if __name__ == "__main__":
    main()
