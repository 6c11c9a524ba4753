#!/usr/bin/env bash
# Build scaleset's tiny bootable test images (v1, v2, broken) from Debian packages alone.
#
#   images/build-tiny.sh [OUTDIR]
#
# OUTDIR defaults to ${SCALESET_IMAGE_CACHE:-$HOME/.cache/scaleset/tiny-images}; downloaded .debs
# are cached in ${SCALESET_DEB_CACHE:-$HOME/.cache/scaleset/debs}. Writes OUTDIR/{v1,v2,broken}/
# {os.qcow2,kernel,initrd,cmdline} (see images/README.md for the guest contract) and prints OUTDIR
# as its last stdout line. Needs python3, apt-get/apt-cache, dpkg-deb, mkfs.ext4 (e2fsprogs) and
# qemu-img; nothing is installed on the host.
#
# Cached: when OUTDIR/.stamp matches the hash of this script and its helper plus the state of the
# apt lists, nothing else runs (well under a second). When only the apt lists changed, the helper
# re-resolves the kernel package (about a second) and rebuilds only if it or busybox changed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
outdir=${1:-${SCALESET_IMAGE_CACHE:-$HOME/.cache/scaleset/tiny-images}}
debdir=${SCALESET_DEB_CACHE:-$HOME/.cache/scaleset/debs}
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)

script_hash=$(cat "$here/build-tiny.sh" "$here/tiny_image.py" | sha256sum | cut -c1-32)
# The kernel package apt resolves can only change when the apt lists change.
apt_state=$( (stat -c '%n %s %Y' /var/lib/apt/lists/*_Packages* 2>/dev/null || true) \
    | sha256sum | cut -c1-32)

fresh() {
    [ -f "$outdir/.stamp" ] && grep -qx "quick=$script_hash:$apt_state" "$outdir/.stamp" || return 1
    local v f
    for v in v1 v2 broken; do
        for f in os.qcow2 kernel initrd cmdline; do
            [ -f "$outdir/$v/$f" ] || return 1
        done
    done
}

if ! fresh; then
    for tool in python3 apt-get apt-cache dpkg-deb mkfs.ext4 qemu-img; do
        command -v "$tool" >/dev/null || {
            echo "build-tiny: $tool is missing (apt-get install -y --no-install-recommends" \
                "python3 e2fsprogs qemu-utils)" >&2
            exit 1
        }
    done
    python3 "$here/tiny_image.py" "$outdir" --debs "$debdir" \
        --script-hash "$script_hash" --apt-state "$apt_state" >&2
fi
echo "$outdir"
