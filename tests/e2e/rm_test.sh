#!/bin/bash
# rm removes the container's state, its rootfs mount, its directory and its cgroup.
source "$(dirname "$0")/lib.sh"
start_daemon

id=$(kctl run -d busybox sleep 300)
[[ $id =~ ^[0-9a-f]{64}$ ]] || fail "run -d printed '$id'"
rootfs=$E2E_TMP/data/containers/$id/rootfs
grep -q " $rootfs " /proc/mounts || fail "rootfs not mounted"
cgroup_dirs() { for d in /sys/fs/cgroup/*/kapsel/"$1" /sys/fs/cgroup/kapsel/"$1"; do [[ -d $d ]] && echo "$d"; done; true; }
[[ -n $(cgroup_dirs "$id") ]] || fail "no cgroup for $id"
kctl ps | grep -q "${id:0:12}" || fail "ps does not show the running container"
pass "running, mounted, in its cgroup"

capture kctl rm "$id"
[[ $RC -eq 125 ]] || fail "rm of a running container: rc=$RC, want 125"
[[ $ERR == *running* ]] || fail "rm error does not say why: $ERR"
grep -q " $rootfs " /proc/mounts || fail "a refused rm unmounted the rootfs"
pass "rm of a running container refused"

capture kctl rm -f "${id:0:12}"
[[ $RC -eq 0 ]] || fail "rm -f: rc=$RC $ERR"
grep -q " $rootfs " /proc/mounts && fail "rootfs still mounted"
[[ -e $E2E_TMP/data/containers/$id ]] && fail "container directory left"
[[ -e $E2E_TMP/run/shims/$id ]] && fail "shim directory left"
[[ -z $(cgroup_dirs "$id") ]] || fail "cgroup left: $(cgroup_dirs "$id")"
kctl ps -a | grep -q "${id:0:12}" && fail "ps -a still lists it"
pass "rm -f removed state, mount, directory and cgroup"

capture kctl rm "$id"
[[ $RC -eq 125 && $ERR == *"no such container"* ]] || fail "rm of a removed container: rc=$RC $ERR"
pass "rm of an unknown container"
