#!/usr/bin/env bash
# Boot the tiny images built by build-tiny.sh with plain QEMU command lines and check the guest
# contract (images/README.md):
#
#   images/check-tiny.sh OUTDIR
#
# v1 on a fresh overlay with one data disk (label data0), fw_cfg hostname, custom data and a
# provision script: /health, GET /, provisioning ran once, POST/GET /disk; a QMP system_reset
# reboot does not provision again; QMP system_powerdown ends QEMU; then v2 on a NEW overlay with
# the same data disk reads what v1 wrote and provisions again; broken reports scaleset-ready on
# ttyS1 but never answers on port 80. Prints timings. Needs qemu-system-x86_64, qemu-img,
# mkfs.ext4/debugfs (e2fsprogs) and python3. Uses KVM only where it really works (see
# shared notes); TCG otherwise.
set -euo pipefail

outdir=${1:?usage: check-tiny.sh OUTDIR}
outdir=$(cd "$outdir" && pwd)
work=$(mktemp -d /tmp/tinychk.XXXXXX)  # short: QMP socket paths must stay under 107 bytes
failures=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(now)"; }

cleanup() {
    local pidfile pid
    for pidfile in "$work"/*.pid; do
        [ -f "$pidfile" ] || continue
        pid=$(cat "$pidfile" 2>/dev/null) || continue
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill "$pid" 2>/dev/null || true; fi
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

accel="tcg,tb-size=32"
if [ -w /dev/kvm ] && grep -qE '\b(vmx|svm)\b' /proc/cpuinfo && [ ! -e /sys/module/kvm_pvm ]; then
    accel=kvm
fi

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# qmp NAME COMMAND: one QMP command on NAME's socket.
qmp() {
    python3 - "$work/$1.qmp" "$2" <<'EOF'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
f = s.makefile("rw")
f.readline()
for cmd in ("qmp_capabilities", sys.argv[2]):
    f.write(json.dumps({"execute": cmd}) + "\n")
    f.flush()
    while True:
        r = json.loads(f.readline())
        if "error" in r:
            sys.exit(f"qmp {cmd}: {r['error']}")
        if "return" in r:
            break
EOF
}

# http METHOD URL [BODY]: prints "STATUS BODY" (STATUS 000 when nothing answered).
http() {
    python3 - "$@" <<'EOF'
import sys, urllib.error, urllib.request
method, url = sys.argv[1], sys.argv[2]
body = sys.argv[3].encode() if len(sys.argv) > 3 else None
try:
    with urllib.request.urlopen(urllib.request.Request(url, data=body, method=method),
                                timeout=3) as r:
        print(r.status, r.read().decode(errors="replace"))
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode(errors="replace"))
except Exception as e:
    print("000", type(e).__name__)
EOF
}

# launch NAME IMAGE OVERLAY DATADISK: boots IMAGE with OVERLAY as vda and DATADISK as vdb.
# Sets port (host port forwarded to guest port 80) and t_launch.
launch() {
    local name=$1 image=$outdir/$2 overlay=$3 data=$4 attempt err
    for attempt in 1 2 3 4 5; do
        port=$(free_port)
        t_launch=$(now)
        if err=$(qemu-system-x86_64 -accel "$accel" -cpu max -machine q35 -m 128M -smp 1 \
            -nodefaults -no-user-config -display none \
            -serial "file:$work/$name.console" -serial "file:$work/$name.status" \
            -kernel "$image/kernel" -initrd "$image/initrd" -append "$(cat "$image/cmdline")" \
            -drive "if=none,id=os,file=$overlay,format=qcow2,discard=unmap" \
            -device virtio-blk-pci,drive=os \
            -drive "if=none,id=data0,file=$data,format=raw" -device virtio-blk-pci,drive=data0 \
            -netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$port-:80" -device virtio-net-pci,netdev=n0 \
            -fw_cfg "name=opt/scaleset/hostname,string=$name" \
            -fw_cfg "name=opt/scaleset/customdata,file=$work/customdata" \
            -fw_cfg "name=opt/scaleset/provision,file=$work/provision.sh" \
            -qmp "unix:$work/$name.qmp,server=on,wait=off" \
            -daemonize -pidfile "$work/$name.pid" 2>&1); then
            return 0
        fi
        case $err in *"host forwarding"*) continue ;; esac
        echo "$err" >&2
        return 1
    done
    echo "no free host port after 5 tries" >&2
    return 1
}

# wait_health VERSION [TIMEOUT]: polls /health until it answers 200 with VERSION.
wait_health() {
    local version=$1 deadline=$(($(date +%s) + ${2:-90})) r
    while [ "$(date +%s)" -lt "$deadline" ]; do
        r=$(http GET "http://127.0.0.1:$port/health")
        case $r in "200 "*"\"version\": \"$version\""*) return 0 ;; esac
        sleep 0.1
    done
    echo "last /health answer: $r" >&2
    return 1
}

# wait_ready NAME COUNT [TIMEOUT]: waits until NAME's ttyS1 has COUNT scaleset-ready lines.
wait_ready() {
    local deadline=$(($(date +%s) + ${3:-90}))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        [ "$(grep -cx scaleset-ready "$work/$1.status" 2>/dev/null)" -ge "$2" ] && return 0
        sleep 0.1
    done
    return 1
}

# powerdown NAME: QMP system_powerdown, then waits (at most 20 s) for QEMU to exit.
# Sets t_down to the seconds it took.
powerdown() {
    local pid t0 deadline
    pid=$(cat "$work/$1.pid")
    t0=$(now)
    qmp "$1" system_powerdown
    deadline=$(($(date +%s) + 20))
    while kill -0 "$pid" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do
        # A daemonized QEMU may stay a zombie when nothing reaps it: that is dead too.
        grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null && break
        sleep 0.1
    done
    t_down=$(since "$t0")
    if kill -0 "$pid" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; then
        return 1
    fi
    rm -f "$work/$1.pid"
}

count() { grep -c "$1" "$2" 2>/dev/null || true; }
debugfs_cat() { debugfs -R "cat $2" "$1" 2>/dev/null; }

for v in v1 v2 broken; do
    for f in os.qcow2 kernel initrd cmdline; do
        [ -f "$outdir/$v/$f" ] || { echo "missing $outdir/$v/$f (run build-tiny.sh)"; exit 1; }
    done
done

echo "check-tiny: accel=$accel, work dir $work"
printf 'echo "custom data ran"\n' > "$work/customdata"
cat > "$work/provision.sh" <<'EOF'
echo "provision.sh: cwd $(pwd)"
echo "run at $(date)" >> /data/0/provision-runs
echo "scaleset-extension test succeeded" > /dev/ttyS1
EOF
mkfs.ext4 -q -F -L data0 "$work/data.img" 16M >/dev/null
declare -A healthy_s

# ---- v1 on a fresh overlay -------------------------------------------------------------------
qemu-img create -q -f qcow2 -b "$outdir/v1/os.qcow2" -F qcow2 "$work/v1.qcow2"
launch vm1 v1 "$work/v1.qcow2" "$work/data.img"
if wait_health v1; then
    healthy_s[v1]=$(since "$t_launch")
    pass "v1 /health 200 with version v1 after ${healthy_s[v1]}s"
else
    fail "v1 never became healthy"; cat "$work/vm1.console"; exit 1
fi
r=$(http GET "http://127.0.0.1:$port/")
case $r in
'200 {"version": "v1", "hostname": "vm1", "customdata": true}') pass "v1 GET / -> $r" ;;
*) fail "v1 GET / -> $r" ;;
esac
if wait_ready vm1 1 5; then pass "v1 wrote scaleset-ready to ttyS1"; else fail "v1: no scaleset-ready"; fi
[ "$(count 'scaleset-extension test succeeded' "$work/vm1.status")" = 1 ] \
    && pass "v1 provision script ran (its status line is on ttyS1)" \
    || fail "v1 provision status lines: $(count 'scaleset-extension' "$work/vm1.status")"
grep -q 'provision.sh: cwd /var/lib/scaleset' "$work/vm1.console" \
    && pass "provision output on the console, cwd /var/lib/scaleset" \
    || fail "provision output missing from the console"
r=$(http POST "http://127.0.0.1:$port/disk?lun=0" "written-by-v1")
[ "$r" = "200 ok" ] && pass "v1 POST /disk?lun=0 -> $r" || fail "v1 POST /disk?lun=0 -> $r"
r=$(http GET "http://127.0.0.1:$port/disk?lun=0")
[ "$r" = "200 written-by-v1" ] && pass "v1 GET /disk?lun=0 -> $r" || fail "v1 GET /disk?lun=0 -> $r"
r=$(http GET "http://127.0.0.1:$port/disk?lun=1")
case $r in "404 "*) pass "v1 GET /disk?lun=1 (no such disk) -> 404" ;; *) fail "lun=1 -> $r" ;; esac
r=$(http GET "http://127.0.0.1:$port/nope")
case $r in "404 "*) pass "unknown path -> 404" ;; *) fail "unknown path -> $r" ;; esac

# Reboot the same OS disk (hard reset): provisioning must not run again.
t0=$(now)
qmp vm1 system_reset
if wait_ready vm1 2 && wait_health v1; then
    pass "v1 healthy again $(since "$t0")s after system_reset"
else
    fail "v1 did not come back after system_reset"
fi
[ "$(count 'scaleset-extension test succeeded' "$work/vm1.status")" = 1 ] \
    && pass "reboot did not provision again" \
    || fail "reboot provisioned again ($(count 'scaleset-extension' "$work/vm1.status") runs)"
r=$(http GET "http://127.0.0.1:$port/disk?lun=0")
[ "$r" = "200 written-by-v1" ] && pass "marker survived the hard reset" || fail "after reset: $r"

if powerdown vm1 && [ "$(python3 -c "print(int($t_down < 10))")" = 1 ]; then
    pass "system_powerdown: QEMU exited after ${t_down}s"
else
    fail "system_powerdown: QEMU still running after ${t_down}s"
fi
grep -q 'Power down' "$work/vm1.console" && pass "guest powered itself off" || fail "no clean power down"
runs=$(debugfs_cat "$work/data.img" /provision-runs | grep -c '^run at' || true)
[ "$runs" = 1 ] && pass "data disk: provision ran once under v1" || fail "provision runs on disk: $runs"
[ "$(debugfs_cat "$work/data.img" /marker)" = written-by-v1 ] \
    && pass "data disk holds the marker after power down (host view)" \
    || fail "marker not on the data disk after power down"
e2fsck -fn "$work/data.img" >/dev/null 2>&1 && pass "data disk is clean (e2fsck -fn)" \
    || fail "data disk not clean after power down"

# ---- reimage: v2 on a NEW overlay, same data disk -------------------------------------------
qemu-img create -q -f qcow2 -b "$outdir/v2/os.qcow2" -F qcow2 "$work/v2.qcow2"
launch vm2 v2 "$work/v2.qcow2" "$work/data.img"
if wait_health v2; then
    healthy_s[v2]=$(since "$t_launch")
    pass "v2 /health 200 with version v2 after ${healthy_s[v2]}s"
else
    fail "v2 never became healthy"; cat "$work/vm2.console"
fi
r=$(http GET "http://127.0.0.1:$port/disk?lun=0")
[ "$r" = "200 written-by-v1" ] && pass "v2 reads the data v1 wrote: $r" || fail "v2 GET /disk -> $r"
r=$(http GET "http://127.0.0.1:$port/")
case $r in *'"version": "v2"'*'"customdata": true'*) pass "v2 GET / -> $r" ;; *) fail "v2 GET / -> $r" ;; esac
[ "$(count 'scaleset-extension test succeeded' "$work/vm2.status")" = 1 ] \
    && pass "the new OS disk provisioned again" || fail "v2 did not provision"
powerdown vm2 && pass "v2 system_powerdown: exited after ${t_down}s" || fail "v2 powerdown"
runs=$(debugfs_cat "$work/data.img" /provision-runs | grep -c '^run at' || true)
[ "$runs" = 2 ] && pass "data disk: provision ran once per OS disk (2 total)" || fail "runs: $runs"

# ---- broken: ready on ttyS1, nothing on port 80 ---------------------------------------------
qemu-img create -q -f qcow2 -b "$outdir/broken/os.qcow2" -F qcow2 "$work/broken.qcow2"
launch vmb broken "$work/broken.qcow2" "$work/data.img"
if wait_ready vmb 1; then
    healthy_s[broken]=$(since "$t_launch")
    pass "broken wrote scaleset-ready after ${healthy_s[broken]}s"
else
    fail "broken never wrote scaleset-ready"
fi
answered=0
for _ in 1 2 3 4 5 6 7 8 9 10; do
    r=$(http GET "http://127.0.0.1:$port/health")
    case $r in 000*) ;; *) answered=1 ;; esac
    sleep 0.3
done
[ "$answered" = 0 ] && pass "broken never answers on port 80" || fail "broken answered: $r"
powerdown vmb && pass "broken system_powerdown: exited after ${t_down}s" || fail "broken powerdown"

echo
echo "timings: launch -> healthy v1 ${healthy_s[v1]:-?}s, v2 ${healthy_s[v2]:-?}s;" \
    "launch -> scaleset-ready broken ${healthy_s[broken]:-?}s"
if [ "$failures" = 0 ]; then
    echo "check-tiny: all checks passed"
else
    echo "check-tiny: $failures check(s) FAILED"
    exit 1
fi
